/**
 * Messages a newcomer meets on the documented path, against real OpenSSH: a wrong recorded host key names the
 * list entry it came from, check --direct reports causes (never "failed recently") with codes, keyscan's
 * text output keeps an unreachable host, a missing --known-hosts-file is refused, generate warns about
 * targets without host keys, and sshified mode's 403 speaks of known_hosts.
 */
import { spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { CheckResult } from "../../src/check/index.js";
import { CLI, type RunningCli, startProxyProcess } from "../e2e/proxy-process.js";
import { type Exporter, startExporter } from "../helpers/exporter.js";
import { freePort } from "../helpers/processes.js";
import { runCli } from "../helpers/run-cli.js";
import { type Sshd, startSshd } from "../helpers/sshd.js";

let sshd: Sshd;
let other: Sshd;
let exporter: Exporter;
let work: string;
let stranger: string;
let spare: [number, number];

beforeAll(async () => {
  work = mkdtempSync(join(tmpdir(), "sshscrape-messages-"));
  sshd = await startSshd();
  // Its host key is a real one that sshd does not have: a list recording it records the wrong key.
  other = await startSshd();
  stranger = other.hostKeyPub.split(" ").slice(0, 2).join(" ");
  exporter = await startExporter();
  // Ports of exporters the list names but that the failing SSH login never reaches.
  spare = [await freePort(), await freePort()];
}, 30_000);
afterAll(async () => {
  await exporter?.close();
  await sshd?.stop();
  await other?.stop();
});

const list = (name: string, text: string) => {
  const file = join(work, name);
  writeFileSync(file, text);
  return file;
};

const wrongKeyList = () =>
  list(
    "wrong-key.yaml",
    `ssh: { user: ${sshd.user}, port: ${sshd.port}, key: { path: ${sshd.clientKeyPath} } }
targets:
  - host: 127.0.0.1
    hostKeys: ["${stranger}"]
    exporters: [{ name: a, port: ${exporter.port} }, { name: b, port: ${spare[0]} }, { name: c, port: ${spare[1]} }]
`,
  );

describe("check --direct with a wrong recorded host key", () => {
  it("names targets[0].hostKeys in FILE and keyscan --update, for every exporter, with the code in --json", async () => {
    const file = wrongKeyList();
    const run = await runCli<CheckResult>(["check", file, "--direct", "--json"]);
    expect(run.exitCode).toBe(1);
    const exporters = run.result?.exporters ?? [];
    expect(exporters).toHaveLength(3);
    for (const e of exporters) {
      expect(e.code).toBe("HOST_KEY_MISMATCH");
      expect(e.error).toContain(`targets[0].hostKeys[0] in ${file}`);
      expect(e.error).toContain(`sshscrape keyscan ${file} --update`);
      expect(e.error).not.toContain("/etc/ssh/ssh_known_hosts");
      expect(e.error).not.toContain("failed recently");
    }
  });

  it("text output: each failure with its cause, one clean line each (exit 1)", async () => {
    const file = wrongKeyList();
    const r = spawnSync(process.execPath, [CLI, "check", file, "--direct"], { encoding: "utf8" });
    expect(r.status).toBe(1);
    const lines = r.stderr.trim().split("\n");
    expect(lines.filter((l) => l.includes("host key mismatch for 127.0.0.1"))).toHaveLength(3);
    expect(lines.at(-1)).toBe("3 of 3 exporters failed");
    expect(r.stderr).not.toContain("›");
  });

  it("a refused login comes back as the cause for every exporter of the host, not SSH_BACKOFF", async () => {
    const hostKey = sshd.hostKeyPub.split(" ").slice(0, 2).join(" ");
    const file = list(
      "refused.yaml",
      `ssh: { user: ${sshd.user}, port: ${sshd.port}, key: { path: ${other.clientKeyPath} } }
targets:
  - host: 127.0.0.1
    hostKeys: ["${hostKey}"]
    exporters: [{ name: a, port: ${exporter.port} }, { name: b, port: ${spare[0]} }]
`,
    );
    const run = await runCli<CheckResult>(["check", file, "--direct", "--json", "--concurrency", "1"]);
    expect(run.result?.exporters.map((e) => e.code)).toEqual(["SSH_AUTH_FAILED", "SSH_AUTH_FAILED"]);
  });
});

describe("--known-hosts-file that does not exist", () => {
  it("check --direct refuses it (exit 2) even when the list's hostKeys would do", async () => {
    const run = await runCli(["check", wrongKeyList(), "--direct", "--known-hosts-file", "/nonexistent"]);
    expect(run.exitCode).toBe(2);
    expect(run.stderr).toContain("/nonexistent: cannot read known_hosts: ENOENT");
  });

  it("proxy refuses it at start (exit 2)", () => {
    const r = spawnSync(
      process.execPath,
      [
        CLI,
        "proxy",
        "--config",
        wrongKeyList(),
        "--known-hosts-file",
        "/nonexistent",
        "--listen",
        "127.0.0.1:0",
      ],
      { encoding: "utf8", timeout: 20_000 },
    );
    expect(r.status).toBe(2);
    expect(r.stderr).toContain("/nonexistent: cannot read known_hosts: ENOENT");
  });
});

describe("keyscan with a changed key and an unreachable host", () => {
  it("the text output lists both; the error names both; nothing is written", async () => {
    const closed = await freePort();
    const file = list(
      "mixed.yaml",
      `ssh: { user: ${sshd.user}, port: ${sshd.port}, key: { path: ${sshd.clientKeyPath} } }
targets:
  - host: 127.0.0.1
    hostKeys: ["${stranger}"]
    exporters: [{ name: a, port: 9100 }]
  - host: 127.0.0.2
    ssh: { port: ${closed} }
    exporters: [{ name: b, port: 9100 }]
`,
    );
    const before = readFileSync(file, "utf8");
    const r = spawnSync(process.execPath, [CLI, "keyscan", file], { encoding: "utf8", timeout: 30_000 });
    expect(r.status).toBe(1);
    expect(r.stdout).toContain(`127.0.0.1:${sshd.port}  ssh-ed25519`);
    expect(r.stdout).toContain(`127.0.0.2:${closed}  -  -  FAILED (KEYSCAN_CONNECT)`);
    expect(r.stderr).toContain(`127.0.0.2:${closed}: cannot scan host keys`);
    expect(r.stderr).toContain("changed: recorded ssh-ed25519");
    expect(readFileSync(file, "utf8")).toBe(before);
  });
});

describe("generate and host keys", () => {
  it("NixOS output refuses a target without hostKeys and prometheus output warns, both naming sshscrape keyscan", async () => {
    const file = list(
      "nokeys.yaml",
      "ssh: { key: { path: /var/lib/sshscrape/key } }\ntargets:\n  - host: db1.example.org\n    exporters: [{ name: node, port: 9100 }]\n",
    );
    const nix = await runCli(["generate", file]);
    expect(nix.exitCode).toBe(2);
    expect(nix.stderr).toContain(`${file}: targets[0].hostKeys:`);
    expect(nix.stderr).toContain(`run \`sshscrape keyscan ${file}\``);
    const prometheus = await runCli(["generate", file, "--format", "prometheus"]);
    expect(prometheus.exitCode).toBe(0);
    expect(prometheus.stderr).toContain(
      `${file}: targets[0].hostKeys: warning: db1.example.org has no host keys, so the proxy has no known_hosts entry for it and answers 502 to every scrape; run \`sshscrape keyscan ${file}\``,
    );
  });
});

describe("sshified mode (no --config)", () => {
  let proxy: RunningCli | undefined;
  afterAll(async () => proxy?.stop());

  it("its 403 says to add the host to known_hosts, not to a target list", async () => {
    const knownHosts = join(work, "known_hosts");
    writeFileSync(knownHosts, `${sshd.knownHostsLine()}\n`);
    const port = await freePort();
    proxy = await startProxyProcess(
      [
        "proxy",
        "--proxy.listen-addr",
        `127.0.0.1:${port}`,
        "--ssh.key-file",
        sshd.clientKeyPath,
        "--ssh.known-hosts-file",
        knownHosts,
      ],
      `http://127.0.0.1:${port}`,
    );
    const res = await fetch(`http://127.0.0.1:${port}/`, { method: "GET" }).catch(() => undefined);
    expect(res?.ok).toBe(false);
    const r = spawnSync("curl", ["-s", "-x", `http://127.0.0.1:${port}`, "http://127.0.0.9:9100/metrics"], {
      encoding: "utf8",
    });
    expect(r.stdout).toContain("127.0.0.9:9100 is not an allowed target");
    expect(r.stdout).toContain(
      `without --config the proxy reaches only hosts with an entry in ${knownHosts}`,
    );
    expect(r.stdout).not.toContain("add it to the target list");
  });
});
