import { spawn } from "node:child_process";
import { writeFileSync } from "node:fs";
import { userInfo } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type RunningProxy, startProxy } from "../../src/proxy/index.js";
import { type Exporter, startExporter } from "../helpers/exporter.js";
import { memoryLogger, runtimeFor, viaProxy } from "../helpers/proxy.js";
import { type Sshd, startSshd } from "../helpers/sshd.js";
import { authorizedKeyLine } from "./key-line.js";
import { nixEvalJson, nixValue, repoRoot } from "./nix.js";

interface Evaluated {
  failedAssertions: string[];
  users: Record<
    string,
    { isSystemUser: boolean; group: string; shell: string; openssh: { authorizedKeys: { keys: string[] } } }
  >;
  groups: Record<string, unknown>;
  nodeExporter: { enable: boolean; listenAddress: string; port: number };
  sshdExtraConfig: string;
  sshdConfig: string;
  services: Record<string, { serviceConfig: Record<string, unknown> }>;
}

/** The module's Match block: from its `Match` line to the end of sshd_config (sshd_config(5)). */
const matchBlock = (config: string) => config.slice(config.indexOf("Match User "));

const KEY =
  "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIMV42ru7pAPG4LGIcTr1e3MWaPG3y01Zr/fZgCRXpw2d sshscrape@monitoring";

function evaluate(target: unknown, openssh = true, before = "", after = ""): Evaluated {
  return nixEvalJson<Evaluated>(
    `import ${repoRoot}/test/nix/eval-nixos.nix { sshscrapeModules = true; modules = [
      ${before}
      { services.openssh.enable = ${openssh}; services.sshscrape-target = ${nixValue(target)}; }
      ${after}
    ]; }`,
  );
}

describe("services.sshscrape-target (nix/target.nix)", () => {
  it("creates a shell-less system user whose keys may only forward to the exporter ports", () => {
    const ev = evaluate({
      enable: true,
      authorizedKeys: [KEY],
      exporterPorts: [9558],
      nodeExporter: { enable: true },
    });
    expect(ev.failedAssertions).toEqual([]);
    expect(ev.users.sshscrape).toMatchObject({ isSystemUser: true, group: "sshscrape" });
    expect(ev.users.sshscrape?.shell).toMatch(/nologin$/);
    expect(ev.groups).toHaveProperty("sshscrape");
    expect(ev.users.sshscrape?.openssh.authorizedKeys.keys).toEqual([
      `restrict,port-forwarding,permitopen="127.0.0.1:9558",permitopen="127.0.0.1:9100" ${KEY}`,
    ]);
    expect(ev.nodeExporter).toMatchObject({ enable: true, listenAddress: "127.0.0.1", port: 9100 });
    expect(matchBlock(ev.sshdConfig)).toMatch(
      /^Match User sshscrape\n {2}AllowTcpForwarding local\n {2}PermitOpen 127\.0\.0\.1:9558 127\.0\.0\.1:9100\n/,
    );
    expect(ev.sshdExtraConfig).toMatch(/PermitTTY no/);
  });

  it("brackets an IPv6 remoteAddress and leaves node_exporter alone unless asked", () => {
    const ev = evaluate({ enable: true, authorizedKeys: [KEY], exporterPorts: [9100], remoteAddress: "::1" });
    expect(ev.users.sshscrape?.openssh.authorizedKeys.keys).toEqual([
      `restrict,port-forwarding,permitopen="[::1]:9100" ${KEY}`,
    ]);
    expect(ev.sshdExtraConfig).toMatch(/PermitOpen \[::1\]:9100\n/);
    expect(ev.nodeExporter.enable).toBe(false);
    // node_exporter joins `${listenAddress}:${port}`: the IPv6 address needs its brackets there.
    const node = evaluate({
      enable: true,
      authorizedKeys: [KEY],
      remoteAddress: "::1",
      nodeExporter: { enable: true },
    });
    expect(node.nodeExporter.listenAddress).toBe("[::1]");
    expect(String(node.services["prometheus-node-exporter"]?.serviceConfig.ExecStart)).toContain(
      "--web.listen-address [::1]:9100",
    );
  });

  it("puts its Match block after every other module's sshd lines, whichever order the modules come in", () => {
    const other = `{ services.openssh.extraConfig = "PermitRootLogin no"; }`;
    for (const [before, after] of [
      [other, ""],
      ["", other],
    ]) {
      const ev = evaluate(
        { enable: true, authorizedKeys: [KEY], exporterPorts: [9100] },
        true,
        before,
        after,
      );
      const block = matchBlock(ev.sshdConfig);
      expect(ev.sshdConfig.indexOf("PermitRootLogin no")).toBeLessThan(ev.sshdConfig.indexOf("Match User"));
      expect(block).not.toMatch(/PermitRootLogin/);
      expect(block.trim().split("\n").at(-1)).toMatch(/^ {2}ForceCommand \S+\/bin\/false$/);
    }
  });

  it("accounts: several accounts and keys, each key limited to its own destinations, existing accounts only get keys", () => {
    const other =
      "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIELpeTmPzbzs4OxPUwMS9BfrgtsYxt6e4mBxbN/go9hk app-scrape";
    const ev = evaluate({
      enable: true,
      accounts: {
        scrape: {
          keys: [
            { publicKey: KEY, permitOpen: ["127.0.0.1:9100"] },
            { publicKey: other, permitOpen: ["db.internal:22", "[2001:db8::5]:2222"] },
          ],
        },
        root: { createUser: false, keys: [{ publicKey: KEY, permitOpen: ["127.0.0.1:9558"] }] },
      },
    });
    expect(ev.failedAssertions).toEqual([]);
    expect(ev.users.scrape).toMatchObject({ isSystemUser: true, group: "scrape" });
    expect(ev.users.scrape?.openssh.authorizedKeys.keys).toEqual([
      `restrict,port-forwarding,permitopen="127.0.0.1:9100" ${KEY}`,
      `restrict,port-forwarding,permitopen="db.internal:22",permitopen="[2001:db8::5]:2222" ${other}`,
    ]);
    // root is NixOS' own account: it keeps its definition and only gets the key.
    expect(ev.users.root).toMatchObject({ description: "System administrator", group: "root" });
    expect(ev.users.root?.openssh.authorizedKeys.keys).toEqual([
      `restrict,port-forwarding,permitopen="127.0.0.1:9558" ${KEY}`,
    ]);
    expect(Object.keys(ev.groups).sort()).toEqual(["root", "scrape", "sshd"]);
    const blocks = matchBlock(ev.sshdConfig);
    expect(blocks).toContain("Match User root\n  AllowTcpForwarding local\n  PermitOpen 127.0.0.1:9558\n");
    expect(blocks).toContain(
      "Match User scrape\n  AllowTcpForwarding local\n  PermitOpen 127.0.0.1:9100 db.internal:22 [2001:db8::5]:2222\n",
    );
    // The one-account form with another user name: an existing account, not created a second time.
    const existing = evaluate({ enable: true, user: "root", authorizedKeys: [KEY], exporterPorts: [9100] });
    expect(existing.failedAssertions).toEqual([]);
    expect(existing.users.root).toMatchObject({ description: "System administrator" });
    expect(existing.users.sshscrape).toBeUndefined();
  });

  it("test/nix/key-line.ts (the line other tests install in their sshd) is the line this module writes", () => {
    const opens = [
      { host: "127.0.0.1", port: 9558 },
      { host: "::1", port: 9100 },
      { host: "db.internal", port: 22 },
    ];
    const ev = evaluate({
      enable: true,
      accounts: {
        scrape: {
          keys: [{ publicKey: KEY, permitOpen: ["127.0.0.1:9558", "[::1]:9100", "db.internal:22"] }],
        },
      },
    });
    expect(ev.users.scrape?.openssh.authorizedKeys.keys).toEqual([authorizedKeyLine(KEY, opens)]);
  });

  it("assertions name the options to set", () => {
    expect(evaluate({ enable: true }, false).failedAssertions).toEqual([
      expect.stringMatching(/^services\.sshscrape-target\.authorizedKeys is empty/),
      expect.stringMatching(
        /^services\.sshscrape-target\.exporterPorts is empty and services\.sshscrape-target\.nodeExporter\.enable is false/,
      ),
      expect.stringMatching(/needs services\.openssh\.enable = true/),
    ]);
    const off = evaluate({ enable: false }, false);
    expect(off).toMatchObject({ failedAssertions: [], sshdExtraConfig: "" });
    expect(Object.keys(off.users)).toEqual(["root"]);
  });
});

describe("the generated restrictions in a real OpenSSH sshd", () => {
  let sshd: Sshd;
  let exporter: Exporter;
  let other: Exporter;
  let knownHosts: string;

  beforeAll(async () => {
    exporter = await startExporter({ body: "node_exporter_build_info 1\n" });
    other = await startExporter({ body: "should_not_be_reachable 1\n" });
    sshd = await startSshd();
    // The login user of the test sshd is whoever runs the tests (root in CI).
    const ev = evaluate({
      enable: true,
      user: userInfo().username,
      authorizedKeys: [sshd.clientKeyPub],
      exporterPorts: [exporter.port],
    });
    sshd.setAuthorizedKeys(`${ev.users[userInfo().username]?.openssh.authorizedKeys.keys.join("\n")}\n`);
    // The module's Match block, appended to the test sshd's config as NixOS appends extraConfig; SIGHUP
    // makes sshd re-read it without giving up its port.
    const config = join(sshd.dir, "sshd_config");
    writeFileSync(config, `\n${matchBlock(ev.sshdConfig)}`, { flag: "a" });
    await sshd.reload();
    knownHosts = join(sshd.dir, "known_hosts");
    writeFileSync(knownHosts, `${sshd.knownHostsLine()}\n`);
  });

  afterAll(async () => {
    await sshd?.stop();
    await exporter?.close();
    await other?.close();
  });

  /**
   * ssh with stdin held open until the answer arrives: closing it early half-closes the forwarded
   * connection, and HTTP servers may drop a request whose client has already sent FIN.
   */
  const ssh = (args: string[], input = "", until = /\n$/) =>
    new Promise<{ status: number | null; stdout: string; stderr: string }>((resolve) => {
      const child = spawn("ssh", [
        "-o",
        "BatchMode=yes",
        "-o",
        `UserKnownHostsFile=${knownHosts}`,
        "-o",
        "StrictHostKeyChecking=yes",
        "-i",
        sshd.clientKeyPath,
        "-p",
        String(sshd.port),
        ...args,
        `${sshd.user}@127.0.0.1`,
      ]);
      let stdout = "";
      let stderr = "";
      const timer = setTimeout(() => child.kill("SIGTERM"), 10_000);
      child.stdout.on("data", (d) => {
        stdout += d;
        if (until.test(stdout)) child.stdin.end();
      });
      child.stderr.on("data", (d) => {
        stderr += d;
      });
      child.once("close", (status) => {
        clearTimeout(timer);
        resolve({ status, stdout, stderr });
      });
      child.stdin.write(input);
      if (!input) child.stdin.end();
    });

  const request = "GET /metrics HTTP/1.0\r\n\r\n";

  it("forwards to a listed exporter port", async () => {
    const r = await ssh(["-W", `127.0.0.1:${exporter.port}`], request, /build_info 1\n/);
    expect(r.stdout, r.stderr).toMatch(/^node_exporter_build_info 1$/m);
  });

  it("refuses any other port, another spelling of the address, and a session", async () => {
    const otherPort = await ssh(["-W", `127.0.0.1:${other.port}`], request);
    expect(otherPort.stdout).not.toMatch(/should_not_be_reachable/);
    expect(otherPort.status).not.toBe(0);
    const localhost = await ssh(["-W", `localhost:${exporter.port}`], request);
    expect(localhost.stdout).not.toMatch(/node_exporter_build_info/);
    const session = await ssh(["echo", "shell-reached"]);
    expect(session.stdout).not.toMatch(/shell-reached/);
    expect(session.status).not.toBe(0);
  });
});

describe("an IPv6 loopback exporter end to end: target.nix's key line and Match block, a real sshd, the proxy", () => {
  let sshd: Sshd;
  let exporter: Exporter;
  let other: Exporter;
  let proxy: RunningProxy;

  beforeAll(async () => {
    exporter = await startExporter({ host: "::1", body: "node_exporter_build_info 6\n" });
    other = await startExporter({ host: "::1", body: "should_not_be_reachable 1\n" });
    sshd = await startSshd();
    const ev = evaluate({
      enable: true,
      user: userInfo().username,
      authorizedKeys: [sshd.clientKeyPub],
      exporterPorts: [exporter.port],
      remoteAddress: "::1",
    });
    expect(ev.failedAssertions).toEqual([]);
    sshd.setAuthorizedKeys(`${ev.users[userInfo().username]?.openssh.authorizedKeys.keys.join("\n")}\n`);
    writeFileSync(join(sshd.dir, "sshd_config"), `\n${matchBlock(ev.sshdConfig)}`, { flag: "a" });
    await sshd.reload();
    // The proxy as services.sshscrape runs it with ssh.remoteAddress = "::1": its direct-tcpip request
    // names the exporter as "::1", which sshd matches against permitopen="[::1]:PORT".
    const runtime = runtimeFor(sshd, {
      exact: [
        { host: "127.0.0.1", port: exporter.port },
        { host: "127.0.0.1", port: other.port },
      ],
    });
    proxy = await startProxy(
      { ...runtime, defaults: { ...runtime.defaults, remoteAddress: "::1" } },
      { logger: memoryLogger().logger },
    );
  });

  afterAll(async () => {
    await proxy?.close(100);
    await sshd?.stop();
    await exporter?.close();
    await other?.close();
  });

  it("scrapes the exporter listening on [::1] through the restricted key", async () => {
    const res = await viaProxy(proxy.url, `http://127.0.0.1:${exporter.port}/metrics`);
    expect(res.status, res.body.toString()).toBe(200);
    expect(res.body.toString()).toMatch(/^node_exporter_build_info 6$/m);
  });

  it("is refused another port on [::1]", async () => {
    const res = await viaProxy(proxy.url, `http://127.0.0.1:${other.port}/metrics`);
    expect(res.status).not.toBe(200);
    expect(res.body.toString()).not.toMatch(/should_not_be_reachable/);
  });
});
