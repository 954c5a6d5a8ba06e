import { execFileSync } from "node:child_process";
import { mkdirSync, mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { type AddressInfo, createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { parseDocument } from "yaml";
import { loadConfig } from "../../src/config/index.js";
import type { KeyscanResult } from "../../src/keyscan/index.js";
import { closedPort } from "../helpers/ports.js";
import { runCli } from "../helpers/run-cli.js";
import { type Sshd, startSshd } from "../helpers/sshd.js";

const pub = (path: string) => readFileSync(`${path}.pub`, "utf8").trim().split(" ").slice(0, 2).join(" ");
/** The fingerprint as OpenSSH's own ssh-keygen prints it, independent of sshscrape's code. */
const sshKeygenFingerprint = (pubLine: string, dir: string) => {
  const f = join(dir, `fp-${Math.random().toString(36).slice(2)}.pub`);
  writeFileSync(f, `${pubLine}\n`);
  return execFileSync("ssh-keygen", ["-l", "-E", "sha256", "-f", f]).toString().split(" ")[1] as string;
};

let sshd: Sshd;
let work: string;
/** The sshd's host keys, read from the files sshd itself loads. */
let hostKeys: { ed25519: string; ecdsa: string; rsa: string };

beforeAll(async () => {
  work = mkdtempSync(join(tmpdir(), "sshscrape-keyscan-"));
  const extra = join(work, "extra-host-keys");
  mkdirSync(extra);
  for (const [t, bits] of [
    ["ecdsa", "256"],
    ["rsa", "2048"],
  ])
    execFileSync("ssh-keygen", [
      "-q",
      "-t",
      t as string,
      "-b",
      bits as string,
      "-N",
      "",
      "-C",
      "",
      "-f",
      join(extra, t as string),
    ]);
  sshd = await startSshd({
    addresses: ["127.0.0.1", "127.0.0.2", "::1"],
    extraConfig: [`HostKey ${join(extra, "ecdsa")}`, `HostKey ${join(extra, "rsa")}`],
  });
  hostKeys = {
    ed25519: pub(join(sshd.dir, "ssh_host_ed25519_key")),
    ecdsa: pub(join(extra, "ecdsa")),
    rsa: pub(join(extra, "rsa")),
  };
});
afterAll(async () => sshd?.stop());

let n = 0;
function writeList(body: string, ext = "yaml"): string {
  const file = join(work, `list-${++n}.${ext}`);
  writeFileSync(file, body);
  return file;
}

const header = () => `# Monitoring targets (hand-written; keyscan must keep this comment)
ssh:
  user: ${sshd.user}   # the test sshd's login user
  port: ${sshd.port}
  key: { path: ${sshd.clientKeyPath} }
`;

/** Lines of `before` must all survive, in order, in `after` (keyscan only inserts). */
function expectOnlyInsertions(before: string, after: string): string[] {
  const b = before.split("\n");
  const a = after.split("\n");
  const inserted: string[] = [];
  let i = 0;
  for (const line of a) {
    if (i < b.length && line === b[i]) i++;
    else inserted.push(line);
  }
  expect(i, `original line ${i + 1} (${b[i]}) lost or changed`).toBe(b.length);
  return inserted;
}

describe("sshscrape keyscan (real OpenSSH sshd)", () => {
  it("records every host key the sshd loads, keeping comments, order and formatting", async () => {
    const before = `${header()}
targets:
  # database first
  - host: 127.0.0.1   # loopback
    exporters:
      - { name: node, port: 9100 }
  - { host: 127.0.0.2, exporters: [{ name: node, port: 9101 }] }   # flow style
`;
    const file = writeList(before);
    const run = await runCli<KeyscanResult>(["keyscan", file]);
    expect(run.error).toBeUndefined();
    expect(run.exitCode).toBe(0);
    const after = readFileSync(file, "utf8");
    const expected = [hostKeys.ed25519, hostKeys.ecdsa, hostKeys.rsa];
    const q = (k: string) => JSON.stringify(k);
    // Exactly the keys, where a person would put them; every other byte as it was.
    expect(after).toBe(
      before
        .replace(
          "  - host: 127.0.0.1   # loopback\n",
          `  - host: 127.0.0.1   # loopback\n    hostKeys:\n${expected.map((k) => `      - ${q(k)}\n`).join("")}`,
        )
        .replace("host: 127.0.0.2, ", `host: 127.0.0.2, hostKeys: [${expected.map(q).join(", ")}], `),
    );
    const { config } = loadConfig(file);
    expect(config.targets[0]?.hostKeys).toEqual(expected);
    expect(config.targets[1]?.hostKeys).toEqual(expected);
    expect(after).toContain("# database first");
    expect(after).toContain("# flow style");
    expect(run.stdout).toContain(`127.0.0.1:${sshd.port}`);
    expect(run.stdout).toContain(sshKeygenFingerprint(hostKeys.ecdsa, work));

    // A second run finds everything recorded and leaves the file byte for byte.
    const again = await runCli<KeyscanResult>(["keyscan", file, "--json"]);
    expect(again.exitCode).toBe(0);
    expect(again.result?.written).toBe(false);
    expect(readFileSync(file, "utf8")).toBe(after);
  });

  it("adds only missing keys after a recorded one and keeps the recorded line's comment", async () => {
    const before = `${header()}
targets:
  - host: 127.0.0.1
    hostKeys:
      - "${hostKeys.ed25519} pinned-by-hand"   # checked at install time
    exporters: [{ name: node, port: 9100 }]
`;
    const file = writeList(before);
    const run = await runCli<KeyscanResult>(["keyscan", file, "--json"]);
    expect(run.exitCode).toBe(0);
    const after = readFileSync(file, "utf8");
    expect(expectOnlyInsertions(before, after)).toEqual([
      `      - "${hostKeys.ecdsa}"`,
      `      - "${hostKeys.rsa}"`,
    ]);
    expect(run.result?.hosts[0]?.added.map((k) => k.type)).toEqual(["ecdsa-sha2-nistp256", "ssh-rsa"]);
  });

  it("writes the keys of a jump host into ssh.jump.hostKeys", async () => {
    const file = writeList(`${header()}
targets:
  - host: 127.0.0.1
    ssh:
      jump: { host: 127.0.0.2, port: ${sshd.port} }
    exporters: [{ name: node, port: 9100 }]
`);
    const run = await runCli<KeyscanResult>(["keyscan", file, "--json"]);
    expect(run.exitCode).toBe(0);
    const target = loadConfig(file).config.targets[0];
    expect(target?.ssh?.jump?.hostKeys).toEqual([hostKeys.ed25519, hostKeys.ecdsa, hostKeys.rsa]);
    expect(target?.hostKeys).toEqual([hostKeys.ed25519, hostKeys.ecdsa, hostKeys.rsa]);
    expect(run.result?.hosts.map((h) => `${h.role} ${h.host}`)).toEqual([
      "jump 127.0.0.2",
      "target 127.0.0.1",
    ]);
  });

  it("rewrites a JSON list as JSON", async () => {
    const list = {
      ssh: { user: sshd.user, port: sshd.port, key: { path: sshd.clientKeyPath } },
      targets: [{ host: "127.0.0.1", exporters: [{ name: "node", port: 9100 }] }],
    };
    const file = writeList(`${JSON.stringify(list, null, 4)}\n`, "json");
    const run = await runCli(["keyscan", file]);
    expect(run.exitCode).toBe(0);
    const written = readFileSync(file, "utf8");
    const data = JSON.parse(written);
    expect(Object.keys(data.targets[0])).toEqual(["host", "hostKeys", "exporters"]);
    expect(data.targets[0].hostKeys).toEqual([hostKeys.ed25519, hostKeys.ecdsa, hostKeys.rsa]);
    expect(written).toMatch(/^ {4}"ssh"/m);
  });

  it("--print writes known_hosts lines OpenSSH's own client accepts, and leaves the file alone", async () => {
    const before = `${header()}
targets:
  - host: 127.0.0.2
    exporters: [{ name: node, port: 9100 }]
  - host: "::1"
    exporters: [{ name: node, port: 9100 }]
`;
    const file = writeList(before);
    const run = await runCli(["keyscan", file, "--print"]);
    expect(run.exitCode).toBe(0);
    expect(readFileSync(file, "utf8")).toBe(before);
    const knownHosts = join(work, "known_hosts_printed");
    writeFileSync(knownHosts, run.stdout);
    expect(run.stdout.trim().split("\n")).toHaveLength(6);
    expect(run.stdout).toContain(`[::1]:${sshd.port} ssh-ed25519 `);
    for (const host of ["127.0.0.2", "::1"]) {
      const out = execFileSync("ssh", [
        ...["-i", sshd.clientKeyPath, "-p", String(sshd.port)],
        ...["-o", `UserKnownHostsFile=${knownHosts}`, "-o", "GlobalKnownHostsFile=/dev/null"],
        ...["-o", "StrictHostKeyChecking=yes", "-o", "BatchMode=yes"],
        `${sshd.user}@${host}`,
        "echo",
        "verified",
      ]).toString();
      expect(out.trim()).toBe("verified");
    }
  });

  it("--via-ssh-keyscan (OpenSSH's ssh-keyscan) writes the same file as the built-in scanner", async () => {
    const body = `${header()}
targets:
  - host: 127.0.0.1
    exporters: [{ name: node, port: 9100 }]
  - host: 127.0.0.2
    hostKeys: ["${hostKeys.rsa}"]
    exporters: [{ name: node, port: 9100 }]
  - { host: "::1", exporters: [{ name: node, port: 9100 }] }
`;
    const a = writeList(body);
    const b = writeList(body);
    const builtIn = await runCli(["keyscan", a]);
    expect(builtIn.exitCode, builtIn.error).toBe(0);
    const viaTool = await runCli(["keyscan", b, "--via-ssh-keyscan"]);
    expect(viaTool.error).toBeUndefined();
    expect(readFileSync(b, "utf8")).toBe(readFileSync(a, "utf8"));
    expect(readFileSync(a, "utf8")).not.toBe(body);
  });

  it("--via-ssh-keyscan says so when ssh-keyscan is not on PATH", async () => {
    const file = writeList(`${header()}
targets:
  - host: 127.0.0.1
    exporters: [{ name: node, port: 9100 }]
`);
    const path = process.env.PATH;
    process.env.PATH = join(work, "empty-bin");
    try {
      const run = await runCli(["keyscan", file, "--via-ssh-keyscan"]);
      expect(run.exitCode).toBe(1);
      expect(run.error).toMatch(/ssh-keyscan is not on PATH/);
    } finally {
      process.env.PATH = path;
    }
  });

  it("reports an unreachable host with its cause (exit 1) and still records the others", async () => {
    const closed = await closedPort();
    const file = writeList(`${header()}
targets:
  - host: 127.0.0.1
    ssh: { port: ${closed} }
    exporters: [{ name: node, port: 9100 }]
  - host: 127.0.0.2
    exporters: [{ name: node, port: 9100 }]
`);
    const run = await runCli(["keyscan", file, "--timeout", "3s"]);
    expect(run.exitCode).toBe(1);
    expect(run.error).toContain(`127.0.0.1:${closed}: cannot scan host keys: connection refused`);
    const { config } = loadConfig(file);
    expect(config.targets[0]?.hostKeys).toBeUndefined();
    expect(config.targets[1]?.hostKeys).toHaveLength(3);
  });

  it("gives up on a host that accepts TCP but never speaks SSH after --timeout", async () => {
    // A silent listener: the connection opens, no SSH banner ever comes.
    const silent = createServer(() => {});
    await new Promise<void>((r) => silent.listen(0, "127.0.0.1", () => r()));
    const port = (silent.address() as AddressInfo).port;
    try {
      const file = writeList(`${header()}
targets:
  - host: 127.0.0.1
    ssh: { port: ${port} }
    exporters: [{ name: node, port: 9100 }]
`);
      const run = await runCli<KeyscanResult>(["keyscan", file, "--timeout", "300ms", "--json"]);
      expect(run.exitCode).toBe(1);
      expect(run.result?.hosts[0]?.error).toEqual({
        code: "KEYSCAN_TIMEOUT",
        message: expect.stringContaining(`127.0.0.1:${port}: no SSH key exchange within 300 ms`),
      });
    } finally {
      silent.close();
    }
  });

  it("exits 2 with the validation message for an invalid list", async () => {
    const file = writeList(`${header()}
targets:
  - host: 127.0.0.1
    exporters: [{ name: node, port: 99999 }]
`);
    const run = await runCli(["keyscan", file]);
    expect(run.exitCode).toBe(2);
    expect(run.error).toContain(`${file}: targets[0].exporters[0].port: expected 1–65535`);
  });
});

describe("sshscrape keyscan when a host key changed", () => {
  let moving: Sshd;
  beforeAll(async () => {
    moving = await startSshd();
  });
  afterAll(async () => moving?.stop());

  it("refuses (exit 1, both fingerprints, nothing written) until --update, which replaces the key in place", async () => {
    const oldKey = moving.hostKeyPub.split(" ").slice(0, 2).join(" ");
    const before = `ssh:
  user: ${moving.user}
  port: ${moving.port}
  key: { path: ${moving.clientKeyPath} }
targets:
  - host: 127.0.0.1
    hostKeys: ["${oldKey}"]   # recorded before the reinstall
    exporters: [{ name: node, port: 9100 }]
`;
    const file = join(work, "moving.yaml");
    writeFileSync(file, before);
    moving.replaceHostKey();
    await moving.restart();
    const newKey = moving.hostKeyPub.split(" ").slice(0, 2).join(" ");

    const refused = await runCli(["keyscan", file]);
    expect(refused.exitCode).toBe(1);
    expect(refused.error).toContain(`127.0.0.1:${moving.port}`);
    expect(refused.error).toContain(sshKeygenFingerprint(oldKey, work));
    expect(refused.error).toContain(sshKeygenFingerprint(newKey, work));
    expect(refused.error).toContain("--update");
    expect(readFileSync(file, "utf8")).toBe(before);

    const printed = await runCli(["keyscan", file, "--print"]);
    expect(printed.exitCode).toBe(1);

    const jsonRun = await runCli<KeyscanResult>(["keyscan", file, "--json"]);
    expect(jsonRun.exitCode).toBe(1);
    expect(jsonRun.result?.ok).toBe(false);
    expect(jsonRun.result?.hosts[0]?.changed[0]).toMatchObject({
      path: "targets[0].hostKeys",
      recordedFingerprint: sshKeygenFingerprint(oldKey, work),
      offeredFingerprint: sshKeygenFingerprint(newKey, work),
    });

    const updated = await runCli(["keyscan", file, "--update"]);
    expect(updated.exitCode).toBe(0);
    expect(readFileSync(file, "utf8")).toBe(before.replace(oldKey, newKey));
    expect(parseDocument(readFileSync(file, "utf8")).toJS().targets[0].hostKeys).toEqual([newKey]);
  });
});
