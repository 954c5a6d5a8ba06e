/**
 * `sshscrape check --direct` with --key-file and --known-hosts-file: the flags, not the list, decide which
 * key logs in and which host keys are trusted (a user checking a list from their own machine).
 */
import { execFileSync } from "node:child_process";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { CheckResult } from "../../src/check/index.js";
import { type Exporter, startExporter } from "../helpers/exporter.js";
import { runCli } from "../helpers/run-cli.js";
import { type Sshd, startSshd } from "../helpers/sshd.js";

let sshd: Sshd;
let exporter: Exporter;
let work: string;
let list: string;
let goodKnownHosts: string;
let wrongKnownHosts: string;
let otherKey: string;

beforeAll(async () => {
  work = mkdtempSync(join(tmpdir(), "sshscrape-check-flags-"));
  exporter = await startExporter({ body: "up 1\n" });
  sshd = await startSshd({ permitOpen: [exporter.port] });
  goodKnownHosts = join(work, "known_hosts");
  writeFileSync(goodKnownHosts, `${sshd.knownHostsLine()}\n`);
  // A real key of another host, filed under this sshd's name.
  const otherHostKey = join(work, "other_host_key");
  execFileSync("ssh-keygen", ["-q", "-t", "ed25519", "-N", "", "-C", "", "-f", otherHostKey]);
  wrongKnownHosts = join(work, "wrong_known_hosts");
  execFileSync("sh", [
    "-c",
    `printf '[127.0.0.1]:${sshd.port} %s\\n' "$(cut -d' ' -f1,2 ${otherHostKey}.pub)" > ${wrongKnownHosts}`,
  ]);
  otherKey = join(work, "other_client_key");
  execFileSync("ssh-keygen", ["-q", "-t", "ed25519", "-N", "", "-C", "", "-f", otherKey]);
  // The list names a key and a known_hosts file this machine does not have, as on a laptop.
  list = join(work, "list.yaml");
  writeFileSync(
    list,
    `proxy: { knownHostsFile: /nonexistent/ssh_known_hosts }
ssh: { user: ${sshd.user}, port: ${sshd.port}, key: { path: /nonexistent/id_ed25519 } }
targets:
  - host: 127.0.0.1
    exporters: [{ name: node, port: ${exporter.port} }]
`,
  );
});

afterAll(async () => {
  await exporter?.close();
  await sshd?.stop();
});

describe("sshscrape check --direct --key-file / --known-hosts-file", () => {
  it("without the flags, fails on the list's own key path", async () => {
    const run = await runCli(["check", list, "--direct"]);
    expect(run.exitCode).toBeGreaterThan(0);
    expect(run.error).toContain("/nonexistent/id_ed25519");
  });

  it("with both flags, logs in with the given key and trusts the given known_hosts: exit 0", async () => {
    const run = await runCli<CheckResult>([
      "check",
      list,
      "--direct",
      "--key-file",
      sshd.clientKeyPath,
      "--known-hosts-file",
      goodKnownHosts,
      "--json",
    ]);
    expect(run.exitCode).toBe(0);
    expect(run.result?.exporters[0]).toMatchObject({ ok: true, status: 200, bytes: 5 });
  });

  it("--key-file decides the key: a key sshd does not accept fails authentication", async () => {
    const run = await runCli<CheckResult>([
      "check",
      list,
      "--direct",
      "--key-file",
      otherKey,
      "--known-hosts-file",
      goodKnownHosts,
      "--json",
    ]);
    expect(run.exitCode).toBe(1);
    expect(run.result?.exporters[0]?.status).toBe(502);
    expect(run.result?.exporters[0]?.error).toMatch(/auth/i);
  });

  it("--known-hosts-file decides the trust: another host's key there is a host key mismatch", async () => {
    const run = await runCli<CheckResult>([
      "check",
      list,
      "--direct",
      "--key-file",
      sshd.clientKeyPath,
      "--known-hosts-file",
      wrongKnownHosts,
      "--json",
    ]);
    expect(run.exitCode).toBe(1);
    expect(run.result?.exporters[0]?.status).toBe(502);
    expect(run.result?.exporters[0]?.error).toContain("host key mismatch");
  });

  it("refuses the flags without --direct (they configure the in-process proxy only)", async () => {
    const run = await runCli(["check", list, "--key-file", sshd.clientKeyPath]);
    expect(run.exitCode).toBe(2);
    expect(run.error).toMatch(/--direct/);
  });
});
