/**
 * How the pool reads its SSH sockets (src/proxy/ssh-read.ts), against real OpenSSH: more than Node's 64 KB per
 * read when more is waiting, and every byte intact although all SSH sockets read into one shared buffer (ssh2
 * hands on views of what it decrypted; a buffer reused without the copy would have later reads overwrite them).
 */
import { readFileSync } from "node:fs";
import type { Socket } from "node:net";
import type { Client, ClientChannel } from "ssh2";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { connectSshSocket } from "../../src/proxy/ssh-read.js";
import { type Exporter, metricsBody, startExporter } from "../helpers/exporter.js";
import { waitFor } from "../helpers/processes.js";
import { connectSsh2, forwardOut } from "../helpers/ssh2-client.js";
import { type Sshd, startSshd } from "../helpers/sshd.js";

let sshd: Sshd;
let exporters: Exporter[] = [];
const clients: Client[] = [];

beforeAll(async () => {
  // Two bodies that differ in every line, so bytes of one in the other's response would show.
  const a = metricsBody(600_000);
  const b = Buffer.from(a.toString("latin1").replace(/sample/g, "SAMPLE"), "latin1");
  exporters = await Promise.all([startExporter({ body: a }), startExporter({ body: b })]);
  sshd = await startSshd({ permitOpen: exporters.map((e) => e.port) });
});

afterAll(async () => {
  for (const c of clients) c.end();
  await Promise.all(exporters.map((e) => e.close()));
  await sshd?.stop();
});

/** An ssh2 client on a socket dialled as the pool dials it. */
async function connectLikeThePool(): Promise<{ client: Client; sock: Socket }> {
  const sock = connectSshSocket({ host: "127.0.0.1", port: sshd.port });
  sock.setNoDelay(true);
  const client = await connectSsh2(sshd, { sock });
  clients.push(client);
  return { client, sock };
}

/** GET /metrics on a fresh channel; resolves with the whole response, kept as the chunks ssh2 handed over. */
async function fetchOnce(client: Client, exporter: Exporter, onChannel?: (ch: ClientChannel) => void) {
  const ch = await forwardOut(client, exporter.port);
  onChannel?.(ch);
  const chunks: Buffer[] = [];
  const done = new Promise<Buffer>((resolve, reject) => {
    ch.on("data", (d: Buffer) => chunks.push(d)); // views, kept until the end: what a slow client does
    ch.on("error", reject);
    ch.on("close", () => resolve(Buffer.concat(chunks)));
  });
  ch.end("GET /metrics HTTP/1.1\r\nHost: exporter\r\nConnection: close\r\n\r\n");
  const response = await done;
  const split = response.indexOf("\r\n\r\n");
  return response.subarray(split + 4);
}

/** Bytes waiting in the kernel to be read on a loopback IPv4 socket (/proc/net/tcp's rx_queue). */
function rxQueue(sock: Socket): number {
  const local = `0100007F:${(sock.localPort as number).toString(16).toUpperCase().padStart(4, "0")}`;
  const remote = `0100007F:${(sock.remotePort as number).toString(16).toUpperCase().padStart(4, "0")}`;
  for (const line of readFileSync("/proc/net/tcp", "utf8").split("\n")) {
    const f = line.trim().split(/\s+/);
    if (f[1] === local && f[2] === remote) return Number.parseInt(f[4]?.split(":")[1] ?? "0", 16);
  }
  return 0;
}

describe("reading the SSH socket", () => {
  it("takes more than Node's 64 KB in one read when more is waiting (fails with Node's own reads)", async () => {
    const { client, sock } = await connectLikeThePool();
    // One response first: the kernel grows the socket's receive window as the reader keeps up.
    await fetchOnce(client, exporters[0] as Exporter);
    const sizes: number[] = [];
    const body = fetchOnce(client, exporters[0] as Exporter, () => {
      // Hold the socket until the kernel has well over 64 KB of the response for it.
      sock.pause();
      sock.on("data", (d: Buffer) => sizes.push(d.length));
    });
    await waitFor("sshd to queue 100 KB on the socket", () => rxQueue(sock) >= 100_000);
    sock.resume();
    expect((await body).equals((exporters[0] as Exporter).body)).toBe(true);
    expect(sizes[0]).toBeGreaterThan(64 * 1024);
  });

  it("keeps every byte of two connections' responses while ssh2's views of them are held", async () => {
    const [one, two] = await Promise.all([connectLikeThePool(), connectLikeThePool()]);
    const [a, b] = exporters as [Exporter, Exporter];
    for (let round = 0; round < 3; round++) {
      const fetches: Promise<Buffer>[] = [];
      const want: Buffer[] = [];
      for (let i = 0; i < 3; i++) {
        fetches.push(fetchOnce(one.client, a), fetchOnce(two.client, b));
        want.push(a.body, b.body);
      }
      // One socket paused and resumed mid-stream: its reads go through the Readable's buffer meanwhile.
      if (round === 1) {
        one.sock.pause();
        await waitFor("sshd to queue data on the paused socket", () => rxQueue(one.sock) > 0);
        one.sock.resume();
      }
      const got = await Promise.all(fetches);
      got.forEach((g, i) => {
        expect(g.length).toBe((want[i] as Buffer).length);
        expect(g.equals(want[i] as Buffer)).toBe(true);
      });
    }
  });
});
