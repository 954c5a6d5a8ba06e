import { spawn } from "node:child_process";
import { writeFileSync } from "node:fs";
import { userInfo } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type Exporter, startExporter } from "../helpers/exporter.js";
import { type Sshd, startSshd } from "../helpers/sshd.js";
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
}

const KEY =
  "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIMV42ru7pAPG4LGIcTr1e3MWaPG3y01Zr/fZgCRXpw2d sshscrape@monitoring";

function evaluate(target: unknown, openssh = true): Evaluated {
  return nixEvalJson<Evaluated>(
    `import ${repoRoot}/test/nix/eval-nixos.nix { sshscrapeModules = true; modules = [
      { services.openssh.enable = ${openssh}; services.sshscrape-target = ${nixValue(target)}; }
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
    expect(Object.keys(ev.groups)).toEqual(["sshscrape"]);
    expect(ev.users.sshscrape?.openssh.authorizedKeys.keys).toEqual([
      `restrict,port-forwarding,permitopen="127.0.0.1:9558",permitopen="127.0.0.1:9100" ${KEY}`,
    ]);
    expect(ev.nodeExporter).toMatchObject({ enable: true, listenAddress: "127.0.0.1", port: 9100 });
    expect(ev.sshdExtraConfig).toMatch(
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
  });

  it("assertions name the options to set", () => {
    expect(evaluate({ enable: true }, false).failedAssertions).toEqual([
      expect.stringMatching(/^services\.sshscrape-target\.authorizedKeys is empty/),
      expect.stringMatching(
        /^services\.sshscrape-target\.exporterPorts is empty and services\.sshscrape-target\.nodeExporter\.enable is false/,
      ),
      expect.stringMatching(/needs services\.openssh\.enable = true/),
    ]);
    expect(evaluate({ enable: false }, false)).toMatchObject({
      failedAssertions: [],
      users: {},
      sshdExtraConfig: "",
    });
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
    writeFileSync(config, ev.sshdExtraConfig, { flag: "a" });
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
