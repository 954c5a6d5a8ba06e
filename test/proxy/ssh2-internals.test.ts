/**
 * src/proxy/ssh2-internals.ts against the installed ssh2 and a real OpenSSH sshd.
 * - releaseHandshakeState finds the finished exchange's ephemeral key pair and the pooled buffers where it
 *   expects them, and connections it released keep working through re-keys: sshd here re-keys after every
 *   kilobyte (RekeyLimit), so each scrape re-keys several times.
 * - postponeKeepalive keeps ssh2 from pinging a connection for as long as it is called within the interval,
 *   and ssh2 pings again once it is not.
 */
import ssh2 from "ssh2";
import { afterAll, beforeAll, expect, it } from "vitest";
import { startProxy } from "../../src/proxy/index.js";
import { postponeKeepalive, releaseHandshakeState } from "../../src/proxy/ssh2-internals.js";
import { type Exporter, metricsBody, startExporter } from "../helpers/exporter.js";
import { waitFor } from "../helpers/processes.js";
import { memoryLogger, metricValue, runtimeFor, viaProxy } from "../helpers/proxy.js";
import { connectSsh2 } from "../helpers/ssh2-client.js";
import { type Sshd, startSshd } from "../helpers/sshd.js";

let sshd: Sshd;
let exporter: Exporter;
const body = metricsBody(50_000);

beforeAll(async () => {
  exporter = await startExporter({ body });
  sshd = await startSshd({ permitOpen: [exporter.port], extraConfig: ["RekeyLimit 1K"] });
});

afterAll(async () => {
  await exporter?.close();
  await sshd?.stop();
});

it("drops the ephemeral key pair of the finished key exchange, and the connection still re-keys", async () => {
  const client = await connectSsh2(sshd);
  try {
    const proto = (client as unknown as { _protocol: { _kex: { _keys: unknown }; _remoteIdentRaw: Buffer } })
      ._protocol;
    const kex = proto._kex;
    const ident = proto._remoteIdentRaw.toString();
    expect(ident).toMatch(/^SSH-2\.0-OpenSSH_/);
    expect(kex._keys).not.toBeNull();
    expect(releaseHandshakeState(client)).toEqual({ kexKeys: true, ident: true, tag: true });
    expect(kex._keys).toBeNull();
    // Same identification string, in a buffer of its own (a re-key hashes it again).
    expect(proto._remoteIdentRaw.toString()).toBe(ident);
    expect(proto._remoteIdentRaw.buffer.byteLength).toBe(proto._remoteIdentRaw.length);
    expect(releaseHandshakeState(client)).toEqual({ kexKeys: false, ident: false, tag: false });
    // sshd re-keys within the first response: a channel carrying 50 KB still works.
    const got = await new Promise<string>((resolve, reject) => {
      client.forwardOut("127.0.0.1", 0, "127.0.0.1", exporter.port, (err, ch) => {
        if (err) return reject(err);
        const chunks: Buffer[] = [];
        ch.on("data", (c: Buffer) => chunks.push(c)).on("close", () =>
          resolve(Buffer.concat(chunks).toString()),
        );
        ch.end("GET /metrics HTTP/1.0\r\nHost: x\r\n\r\n");
      });
    });
    expect(got.endsWith(body.toString())).toBe(true);
    // It did re-key: ssh2 made a new exchange object (which, unreleased, holds a fresh pair).
    const after = (client as unknown as { _protocol: { _kex: { _keys: unknown } } })._protocol._kex;
    expect(after).not.toBe(kex);
    expect(releaseHandshakeState(client).kexKeys).toBe(true);
  } finally {
    client.end();
  }
});

it("keeps pooled connections (their key pairs dropped) working across sshd's re-keys", async () => {
  const log = memoryLogger("warn");
  const p = await startProxy(runtimeFor(sshd, { exact: [{ host: "127.0.0.1", port: exporter.port }] }), {
    logger: log.logger,
  });
  try {
    for (let i = 0; i < 5; i++) {
      const res = await viaProxy(p.url, `http://127.0.0.1:${exporter.port}/metrics`);
      expect(res.status).toBe(200);
      expect(res.body.equals(body)).toBe(true);
    }
    const text = await fetch(`${p.url}/metrics`).then((r) => r.text());
    expect(metricValue(text, "sshscrape_ssh_handshakes_total", { result: "success" })).toBe(1);
    expect(log.records).toEqual([]);
  } finally {
    await p.close(100);
  }
});

it("postpones ssh2's keepalive while called within the interval; ssh2 pings once it is not", async () => {
  const client = await connectSsh2(sshd, { keepaliveInterval: 3000 });
  try {
    const proto = (client as unknown as { _protocol: { ping: () => void } })._protocol;
    let pings = 0;
    const ping = proto.ping.bind(proto);
    proto.ping = () => {
      pings++;
      ping();
    };
    // 4 s, longer than the 3 s interval, postponing every 0.2 s: no keepalive goes out.
    for (let i = 0; i < 20; i++) {
      expect(postponeKeepalive(client)).toBe(true);
      await new Promise((r) => setTimeout(r, 200));
    }
    expect(pings).toBe(0);
    // Left alone, ssh2 pings again (and sshd answers: the connection stays up).
    await waitFor("a keepalive", () => pings >= 1, 10_000);
    await waitFor("a second keepalive", () => pings >= 2, 10_000);
  } finally {
    client.end();
  }
  expect(postponeKeepalive(new ssh2.Client())).toBe(false);
});
