/**
 * `sshscrape proxy` as a process, for what only a process shows: SIGHUP re-reading the SSH key and the proxy
 * password (and keeping both when a file turned bad), SIGTERM closing open CONNECT tunnels, exit 1 when the
 * listen address is taken, and an encrypted key opened with ssh.passphraseFile.
 */
import { execFileSync } from "node:child_process";
import { copyFileSync, readFileSync, writeFileSync } from "node:fs";
import { type AddressInfo, connect, createServer, type Server, type Socket } from "node:net";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type Exporter, startExporter } from "../helpers/exporter.js";
import { waitFor } from "../helpers/processes.js";
import { viaProxy } from "../helpers/proxy.js";
import { launchProxy, type ProxyProcess, runProxy } from "../helpers/proxy-cli.js";
import { type Sshd, startSshd } from "../helpers/sshd.js";
import { authorizedKeyLine } from "../nix/key-line.js";

const HOSTS = ["127.0.0.1", "127.0.0.2", "127.0.0.3", "127.0.0.4", "127.0.0.5"];
let sshd: Sshd;
let exporter: Exporter;
/** A raw TCP echo service standing in for an https exporter behind CONNECT (the proxy never looks inside). */
let echo: Server;
let echoPort: number;
const echoSockets = new Set<Socket>();
let n = 0;

function newKey(passphrase = ""): { path: string; pub: string } {
  const path = join(sshd.dir, `key-${++n}`);
  execFileSync("ssh-keygen", ["-q", "-t", "ed25519", "-N", passphrase, "-C", "", "-f", path]);
  return { path, pub: readFileSync(`${path}.pub`, "utf8").trim() };
}

/** authorized_keys holding exactly these keys, each with the generator's restricted line. */
function authorize(...pubs: string[]): void {
  const opens = [exporter.port, echoPort].map((port) => ({ host: "127.0.0.1", port }));
  sshd.setAuthorizedKeys(pubs.map((p) => `${authorizedKeyLine(p, opens)}\n`).join(""));
}

function configFile(o: {
  keyPath: string;
  passphraseFile?: string;
  proxy?: Record<string, unknown>;
}): string {
  const knownHostsFile = join(sshd.dir, "known_hosts");
  writeFileSync(knownHostsFile, `${sshd.knownHostsLine()}\n`);
  const file = join(sshd.dir, `targets-${++n}.json`);
  writeFileSync(
    file,
    JSON.stringify({
      // No preconnect: each host's connection is made by the first request for it, when the test says.
      proxy: { knownHostsFile, preconnect: false, ...o.proxy },
      ssh: {
        user: sshd.user,
        port: sshd.port,
        key: { path: o.keyPath },
        ...(o.passphraseFile ? { passphraseFile: o.passphraseFile } : {}),
      },
      targets: HOSTS.map((host) => ({
        host,
        exporters: [
          { name: "node", port: exporter.port },
          { name: "tls", port: echoPort, scheme: "https" },
        ],
      })),
    }),
  );
  return file;
}

const target = (host: string) => `http://${host}:${exporter.port}/metrics`;

/** Sends SIGHUP and waits for the proxy's verdict on it: "reloaded …" or "reload failed …". */
async function hup(p: ProxyProcess, expect: "reloaded" | "reload failed"): Promise<void> {
  const mark = p.proc.output().length;
  p.proc.child.kill("SIGHUP");
  await p.logged(
    expect === "reloaded"
      ? "reloaded known_hosts, keys and credentials"
      : "reload failed; keeping the previous known_hosts and keys",
    mark,
  );
}

beforeAll(async () => {
  exporter = await startExporter({ body: "up 1\n" });
  echo = createServer((s) => {
    echoSockets.add(s);
    s.once("close", () => echoSockets.delete(s));
    s.pipe(s);
  });
  await new Promise<void>((r) => echo.listen(0, "127.0.0.1", r));
  echoPort = (echo.address() as AddressInfo).port;
  sshd = await startSshd({ addresses: HOSTS });
  authorize(sshd.clientKeyPub);
});

afterAll(async () => {
  for (const s of echoSockets) s.destroy();
  echo?.close();
  await exporter?.close();
  await sshd?.stop();
});

describe("SIGHUP", () => {
  it("re-reads the SSH key for new connections, and keeps the loaded key when the file turned bad", async () => {
    const keyFile = join(sshd.dir, "rotating-key");
    copyFileSync(sshd.clientKeyPath, keyFile);
    const p = await launchProxy(["--config", configFile({ keyPath: keyFile })]);
    try {
      expect((await viaProxy(p.url, target("127.0.0.1"))).status).toBe(200);

      // Rotate: sshd now accepts only the new key, and the file holds it.
      const next = newKey();
      authorize(next.pub);
      copyFileSync(next.path, keyFile);
      // Keys are read at start and on SIGHUP only: a new connection still offers the old key, and fails.
      const stale = await viaProxy(p.url, target("127.0.0.2"));
      expect(stale.status).toBe(502);
      expect(stale.body.toString()).toMatch(/auth/i);

      await hup(p, "reloaded");
      const rotated = await viaProxy(p.url, target("127.0.0.3"));
      expect(rotated.status, rotated.body.toString()).toBe(200);

      writeFileSync(keyFile, "not a key\n", { mode: 0o600 });
      await hup(p, "reload failed");
      expect(p.proc.output()).toContain(`${keyFile}: not an SSH private key`);
      const kept = await viaProxy(p.url, target("127.0.0.4"));
      expect(kept.status, kept.body.toString()).toBe(200);
      // The connection made before all this was never dropped.
      expect((await viaProxy(p.url, target("127.0.0.1"))).status).toBe(200);
      expect(sshd.output().match(/Accepted publickey/g)?.length).toBeGreaterThanOrEqual(3);
    } finally {
      authorize(sshd.clientKeyPub);
      await p.proc.stop();
    }
  });

  it("re-reads the proxy password, and keeps it when the file turned bad (empty)", async () => {
    const passwordFile = join(sshd.dir, "proxy-password");
    writeFileSync(passwordFile, "first\n", { mode: 0o600 });
    const p = await launchProxy([
      "--config",
      configFile({
        keyPath: sshd.clientKeyPath,
        proxy: { auth: { username: "prom", passwordFile } },
      }),
    ]);
    const as = (password: string) =>
      viaProxy(p.url, target("127.0.0.1"), {
        headers: { "proxy-authorization": `Basic ${Buffer.from(`prom:${password}`).toString("base64")}` },
      }).then((r) => r.status);
    try {
      expect(await as("first")).toBe(200);
      writeFileSync(passwordFile, "second\n");
      expect(await as("first")).toBe(200); // not re-read until SIGHUP
      await hup(p, "reloaded");
      expect(await as("first")).toBe(407);
      expect(await as("second")).toBe(200);

      writeFileSync(passwordFile, "");
      await hup(p, "reload failed");
      expect(p.proc.output()).toContain(
        `${passwordFile}: cannot read proxy.auth.passwordFile: file is empty`,
      );
      expect(await as("second")).toBe(200);
      expect(await as("")).toBe(407);
    } finally {
      await p.proc.stop();
    }
  });
  it("changes nothing when one file is bad: a new key beside an empty password file is not taken either", async () => {
    const keyFile = join(sshd.dir, "rotating-key-2");
    copyFileSync(sshd.clientKeyPath, keyFile);
    const passwordFile = join(sshd.dir, "proxy-password-2");
    writeFileSync(passwordFile, "first\n", { mode: 0o600 });
    const p = await launchProxy([
      "--config",
      configFile({ keyPath: keyFile, proxy: { auth: { username: "prom", passwordFile } } }),
    ]);
    const auth = { "proxy-authorization": `Basic ${Buffer.from("prom:first").toString("base64")}` };
    try {
      expect((await viaProxy(p.url, target("127.0.0.1"), { headers: auth })).status).toBe(200);
      // sshd still accepts only the old key; the key file now holds one it does not know.
      copyFileSync(newKey().path, keyFile);
      writeFileSync(passwordFile, "");
      await hup(p, "reload failed");
      // The reload was all or nothing: the old key still logs in on a new connection.
      const res = await viaProxy(p.url, target("127.0.0.2"), { headers: auth });
      expect(res.status, res.body.toString()).toBe(200);
    } finally {
      await p.proc.stop();
    }
  });
});

describe("SIGTERM", () => {
  it("closes open CONNECT tunnels (both ends) after the grace period and exits 0", async () => {
    const p = await launchProxy([
      "--config",
      configFile({ keyPath: sshd.clientKeyPath, proxy: { gracePeriod: "1s" } }),
    ]);
    try {
      const { port } = new URL(p.url);
      const tunnel = connect(Number(port), "127.0.0.1");
      let received = "";
      tunnel.on("data", (d) => {
        received += d;
      });
      const tunnelClosed = new Promise<void>((r) => tunnel.once("close", () => r()));
      tunnel.write(`CONNECT 127.0.0.1:${echoPort} HTTP/1.1\r\nHost: 127.0.0.1:${echoPort}\r\n\r\n`);
      await waitFor("CONNECT 200", () => received.startsWith("HTTP/1.1 200"));
      const before = received.length;
      tunnel.write("ping\n");
      await waitFor("echo through the tunnel", () => received.slice(before) === "ping\n");
      expect(echoSockets.size).toBe(1);

      const mark = p.proc.output().length;
      p.proc.child.kill("SIGTERM");
      await p.logged("stopping", mark);
      await tunnelClosed;
      // The exporter's end goes too: the SSH channel was closed, not just the client's socket.
      await waitFor("the exporter side of the tunnel to close", () => echoSockets.size === 0);
      expect(await p.exited).toBe(0);
      expect(p.proc.output()).toContain('"msg":"stopped"');
    } finally {
      await p.proc.stop();
    }
  });
});

describe("start-up failures", () => {
  it("exits 1 with one line when the listen address is in use", async () => {
    const taken = createServer();
    await new Promise<void>((r) => taken.listen(0, "127.0.0.1", r));
    const port = (taken.address() as AddressInfo).port;
    try {
      const res = runProxy([
        "--config",
        configFile({ keyPath: sshd.clientKeyPath }),
        "--listen",
        `127.0.0.1:${port}`,
      ]);
      expect(res.status).toBe(1);
      expect(res.stderr.trim().split("\n")).toHaveLength(1);
      expect(res.stderr).toContain(`cannot listen on 127.0.0.1:${port}: `);
      expect(res.stderr).toMatch(/EADDRINUSE|address already in use/);
    } finally {
      taken.close();
    }
  });

  it("opens an encrypted key with ssh.passphraseFile, and exits 2 naming the file for a wrong passphrase", async () => {
    const encrypted = newKey("correct horse");
    authorize(sshd.clientKeyPub, encrypted.pub);
    const good = join(sshd.dir, "passphrase");
    writeFileSync(good, "correct horse\n", { mode: 0o600 });
    const p = await launchProxy(["--config", configFile({ keyPath: encrypted.path, passphraseFile: good })]);
    try {
      const res = await viaProxy(p.url, target("127.0.0.5"));
      expect(res.status, res.body.toString()).toBe(200);
      // sshd logged the login with the encrypted key's fingerprint: that key, decrypted, was used.
      const fingerprint = execFileSync("ssh-keygen", ["-l", "-f", `${encrypted.path}.pub`])
        .toString()
        .split(" ")[1];
      expect(sshd.output()).toContain(`ED25519 ${fingerprint}`);
    } finally {
      await p.proc.stop();
      authorize(sshd.clientKeyPub);
    }

    const wrong = join(sshd.dir, "wrong-passphrase");
    writeFileSync(wrong, "battery staple\n", { mode: 0o600 });
    const res = runProxy(["--config", configFile({ keyPath: encrypted.path, passphraseFile: wrong })]);
    expect(res.status).toBe(2);
    expect(res.stderr).toContain(
      `${encrypted.path}: cannot decrypt the private key with the passphrase in ${wrong}`,
    );
  });
});
