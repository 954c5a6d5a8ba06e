/**
 * `sshscrape proxy` as a process (the built CLI): start-up errors and exit codes, sshified's flags,
 * SIGHUP reload without dropping in-flight requests, SIGTERM graceful stop with exit 0.
 */
import { execFileSync } from "node:child_process";
import { chmodSync, copyFileSync, writeFileSync } from "node:fs";
import type { ServerResponse } from "node:http";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type Exporter, startExporter } from "../helpers/exporter.js";
import { waitFor } from "../helpers/processes.js";
import { metricValue, viaProxy } from "../helpers/proxy.js";
import { launchProxy, runProxy as run } from "../helpers/proxy-cli.js";
import { type Sshd, startSshd } from "../helpers/sshd.js";

let sshd: Sshd;
let exporter: Exporter;
/** Holds each response until the test releases it: a request is in flight for exactly as long as the test says. */
let held: Exporter;
const waiting: ServerResponse[] = [];
const release = () => {
  for (const res of waiting.splice(0)) res.writeHead(200, { "content-type": "text/plain" }).end("slow 1\n");
};

beforeAll(async () => {
  exporter = await startExporter({ body: "up 1\n" });
  held = await startExporter({ handler: (_req, res) => void waiting.push(res) });
  sshd = await startSshd({ permitOpen: [exporter.port, held.port] });
});

afterAll(async () => {
  await exporter?.close();
  release();
  await held?.close();
  await sshd?.stop();
});

const launch = async (args: string[], env: NodeJS.ProcessEnv = {}) => launchProxy(args, env);

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
    const { proc, url } = await launchProxy(
      [
        "--proxy.listen-addr",
        "127.0.0.1:0",
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
      ],
      {},
      null,
    );
    try {
      expect(proc.output()).toMatch(/"level":40[^\n]*sshified-compatible mode/);
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
    const { proc, url, exited, logged } = await launch([
      "--config",
      configFile(knownHosts, [exporter.port, held.port]),
    ]);
    try {
      const before = await viaProxy(url, exporter.url);
      expect(before.status).toBe(502);
      expect(before.body.toString()).toContain(`no known_hosts entry for 127.0.0.1:${sshd.port}`);

      writeFileSync(knownHosts, `${sshd.knownHostsLine()}\n`);
      let mark = proc.output().length;
      proc.child.kill("SIGHUP");
      await logged("reloaded known_hosts, keys and credentials", mark);
      expect((await viaProxy(url, exporter.url)).status).toBe(200);

      // A request in flight while the proxy reloads, and then while it is told to stop, still completes.
      // "In flight" is observed, not assumed: the exporter holds the request, and the proxy's own gauge
      // counts its channel, until the test releases it after the signal was handled.
      const channels = async () =>
        metricValue(await fetch(`${url}/metrics`).then((r) => r.text()), "sshscrape_ssh_channels");
      const inFlight = viaProxy(url, held.url);
      await waitFor("the exporter to receive the request", () => waiting.length === 1);
      expect(await channels()).toBeGreaterThanOrEqual(1);
      mark = proc.output().length;
      proc.child.kill("SIGHUP");
      await logged("reloaded known_hosts, keys and credentials", mark);
      expect(waiting).toHaveLength(1);
      release();
      const duringReload = await inFlight;
      expect(duringReload.status).toBe(200);
      expect(duringReload.body.toString()).toBe("slow 1\n");

      const lastOne = viaProxy(url, held.url);
      await waitFor("the exporter to receive the last request", () => waiting.length === 1);
      expect(await channels()).toBeGreaterThanOrEqual(1);
      mark = proc.output().length;
      proc.child.kill("SIGTERM");
      await logged("stopping", mark);
      // Draining: new connections are refused, the held request is still open.
      await expect(fetch(`${url}/healthz`)).rejects.toThrow();
      expect(proc.child.exitCode).toBeNull();
      release();
      const last = await lastOne;
      expect(last.status).toBe(200);
      expect(last.body.toString()).toBe("slow 1\n");
      expect(await exited).toBe(0);
      expect(proc.output()).toContain('"msg":"stopped"');
      // It stopped because the last request finished, not because the grace period ran out.
      expect(proc.output()).not.toContain("grace period over");
    } finally {
      release();
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
