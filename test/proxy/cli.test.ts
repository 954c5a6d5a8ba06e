/**
 * `sshscrape proxy` as a process (the built CLI): start-up errors and exit codes, sshified's flags,
 * SIGHUP reload without dropping in-flight requests, SIGTERM graceful stop with exit 0.
 */
import { execFileSync } from "node:child_process";
import { chmodSync, copyFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type Exporter, startExporter } from "../helpers/exporter.js";
import { freePort, type Started, start, waitFor } from "../helpers/processes.js";
import { viaProxy } from "../helpers/proxy.js";
import { type Sshd, startSshd } from "../helpers/sshd.js";

const BIN = join(import.meta.dirname, "../../bin/run.js");

let sshd: Sshd;
let exporter: Exporter;
let slow: Exporter;

beforeAll(async () => {
  sshd = await startSshd();
  exporter = await startExporter({ body: "up 1\n" });
  slow = await startExporter({
    handler: (_req, res) => {
      setTimeout(() => res.writeHead(200, { "content-type": "text/plain" }).end("slow 1\n"), 700);
    },
  });
});

afterAll(async () => {
  await exporter?.close();
  await slow?.close();
  await sshd?.stop();
});

function run(args: string[], env: NodeJS.ProcessEnv = {}): { status: number; stderr: string } {
  try {
    execFileSync(process.execPath, [BIN, "proxy", ...args], {
      env: { ...process.env, ...env },
      stdio: "pipe",
    });
    return { status: 0, stderr: "" };
  } catch (err) {
    const e = err as { status: number; stderr: Buffer };
    return { status: e.status, stderr: e.stderr.toString() };
  }
}

async function launch(args: string[], env: NodeJS.ProcessEnv = {}): Promise<{ proc: Started; url: string }> {
  const port = await freePort();
  const proc = start(process.execPath, [BIN, "proxy", "--listen", `127.0.0.1:${port}`, ...args], {
    env: { ...process.env, ...env },
  });
  await waitFor(
    `proxy listening\n${proc.output()}`,
    () => proc.output().includes('"msg":"listening"'),
    15_000,
  );
  return { proc, url: `http://127.0.0.1:${port}` };
}

function configFile(knownHostsFile: string, ports: number[]): string {
  const file = join(sshd.dir, `targets-${ports.join("-")}.json`);
  writeFileSync(
    file,
    JSON.stringify({
      proxy: { knownHostsFile },
      ssh: { user: sshd.user, port: sshd.port, key: { path: sshd.clientKeyPath } },
      targets: [{ host: "127.0.0.1", exporters: ports.map((port, i) => ({ name: `e${i}`, port })) }],
    }),
  );
  return file;
}

const exited = (proc: Started) =>
  new Promise<number | null>((resolve) => {
    if (proc.child.exitCode !== null) resolve(proc.child.exitCode);
    else proc.child.once("exit", (code) => resolve(code));
  });

describe("sshscrape proxy (process)", () => {
  it("exits 2 with one line naming the file for an unusable config or key", () => {
    const missing = run(["--config", join(sshd.dir, "nope.yaml")]);
    expect(missing.status).toBe(2);
    expect(missing.stderr.trim().split("\n")).toHaveLength(1);
    expect(missing.stderr).toContain("nope.yaml");

    const encrypted = join(sshd.dir, "encrypted_key");
    execFileSync("ssh-keygen", ["-q", "-t", "ed25519", "-N", "hunter22", "-f", encrypted]);
    const enc = run(["--ssh.key-file", encrypted]);
    expect(enc.status).toBe(2);
    expect(enc.stderr).toContain(`${encrypted}: private key is encrypted`);
    expect(enc.stderr).toContain("passphraseFile");
  });

  it("refuses a non-loopback listen address without proxy auth unless --allow-non-loopback", () => {
    const res = run(["--ssh.key-file", sshd.clientKeyPath, "--listen", "0.0.0.0:0"]);
    expect(res.status).toBe(2);
    expect(res.stderr).toContain("--allow-non-loopback");
  });

  it("takes sshified's flags verbatim: any host in known_hosts, any port, with a warning", async () => {
    const knownHosts = join(sshd.dir, "kh-sshified");
    writeFileSync(knownHosts, `${sshd.knownHostsLine()}\n`);
    const port = await freePort();
    const proc = start(process.execPath, [
      BIN,
      "proxy",
      "--proxy.listen-addr",
      `127.0.0.1:${port}`,
      "--ssh.user",
      sshd.user,
      "--ssh.key-file",
      sshd.clientKeyPath,
      "--ssh.known-hosts-file",
      knownHosts,
      "--ssh.port",
      String(sshd.port),
      "--timeout",
      "5s",
      "-v",
    ]);
    try {
      await waitFor("listening", () => proc.output().includes('"msg":"listening"'), 15_000);
      expect(proc.output()).toMatch(/"level":40[^\n]*sshified-compatible mode/);
      const url = `http://127.0.0.1:${port}`;
      const ok = await viaProxy(url, exporter.url);
      expect(ok.status).toBe(200);
      expect(ok.body.toString()).toBe("up 1\n");
      const unknown = await viaProxy(url, `http://127.0.0.9:${exporter.port}/metrics`);
      expect(unknown.status).toBe(403);
    } finally {
      await proc.stop();
    }
  });

  it("reloads known_hosts on SIGHUP without dropping an in-flight request, and stops on SIGTERM with exit 0", async () => {
    const knownHosts = join(sshd.dir, "kh-reload");
    writeFileSync(knownHosts, "# nothing yet\n");
    const { proc, url } = await launch(["--config", configFile(knownHosts, [exporter.port, slow.port])]);
    try {
      const before = await viaProxy(url, exporter.url);
      expect(before.status).toBe(502);
      expect(before.body.toString()).toContain(`no known_hosts entry for 127.0.0.1:${sshd.port}`);

      writeFileSync(knownHosts, `${sshd.knownHostsLine()}\n`);
      proc.child.kill("SIGHUP");
      await waitFor("reload", () => proc.output().includes("reloaded"), 5000);
      expect((await viaProxy(url, exporter.url)).status).toBe(200);

      // A request in flight while the proxy reloads, and then while it is told to stop, still completes.
      const inFlight = viaProxy(url, slow.url);
      await new Promise((r) => setTimeout(r, 150));
      proc.child.kill("SIGHUP");
      const duringReload = await inFlight;
      expect(duringReload.status).toBe(200);

      const lastOne = viaProxy(url, slow.url);
      await new Promise((r) => setTimeout(r, 150));
      proc.child.kill("SIGTERM");
      const last = await lastOne;
      expect(last.status).toBe(200);
      expect(last.body.toString()).toBe("slow 1\n");
      expect(await exited(proc)).toBe(0);
      expect(proc.output()).toContain('"msg":"stopped"');
    } finally {
      await proc.stop();
    }
  });

  it("uses $CREDENTIALS_DIRECTORY/ssh-key when no key flag is given, and warns about a loose mode", async () => {
    const creds = join(sshd.dir, "credentials");
    execFileSync("mkdir", ["-p", creds]);
    copyFileSync(sshd.clientKeyPath, join(creds, "ssh-key"));
    chmodSync(join(creds, "ssh-key"), 0o644);
    const knownHosts = join(sshd.dir, "kh-creds");
    writeFileSync(knownHosts, `${sshd.knownHostsLine()}\n`);
    const config = join(sshd.dir, "targets-creds.json");
    writeFileSync(
      config,
      JSON.stringify({
        proxy: { knownHostsFile: knownHosts },
        ssh: { user: sshd.user, port: sshd.port, key: { sops: { file: "secrets.yaml" } } },
        targets: [{ host: "127.0.0.1", exporters: [{ name: "up", port: exporter.port }] }],
      }),
    );
    const { proc, url } = await launch(["--config", config], { CREDENTIALS_DIRECTORY: creds });
    try {
      expect((await viaProxy(url, exporter.url)).status).toBe(200);
      expect(proc.output()).toContain("readable by group or others");
    } finally {
      await proc.stop();
    }
  });
});
