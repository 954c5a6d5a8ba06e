/**
 * Read batching on the pool's SSH sockets (src/proxy/ssh-read.ts, "Read batching"): while a socket's batching
 * predicate holds, it is read at most 64 KB at a time, so that a read which leaves more in the kernel is
 * followed by another one in the same poll, and every chunk read in that poll reaches the socket's readers
 * in one pass (no microtask checkpoint between them: nothing runs in between, not the exchange's nudge, not a
 * client write). What this cannot show is why it matters: sshd's Nagle hold of a response's tail until this
 * side's read sends its ACK, measured with kernel tracepoints in docs/benchmarks.md ("c=1 latency with default
 * settings").
 *
 * The first test runs against real OpenSSH. The other two need the end of the stream, or an error, to come
 * while chunks are held, which sshd does not do on cue: a plain TCP server on loopback sends exactly 128 KB
 * (two full reads) and a FIN; connectSshSocket is only a TCP socket underneath. (A reset after data reads as
 * the end of the stream on Linux, so the error is a destroy(err) from the read's microtask checkpoint.)
 */
import { readFileSync } from "node:fs";
import { createServer, type Server, type Socket } from "node:net";
import type { Client, ClientChannel } from "ssh2";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { connectSshSocket, SOLO_READ_BYTES, setReadBatching } from "../../src/proxy/ssh-read.js";
import { type Exporter, metricsBody, startExporter } from "../helpers/exporter.js";
import { waitFor } from "../helpers/processes.js";
import { connectSsh2, forwardOut } from "../helpers/ssh2-client.js";
import { type Sshd, startSshd } from "../helpers/sshd.js";

let sshd: Sshd;
let exporter: Exporter;
const clients: Client[] = [];
const servers: Server[] = [];

beforeAll(async () => {
  exporter = await startExporter({ body: metricsBody(300_000) });
  sshd = await startSshd({ permitOpen: [exporter.port] });
});

afterAll(async () => {
  for (const c of clients) c.end();
  for (const s of servers) await new Promise((resolve) => s.close(resolve));
  await exporter?.close();
  await sshd?.stop();
});

/** Bytes waiting in the kernel to be read on a loopback IPv4 socket, and its state (/proc/net/tcp). */
function tcpRow(sock: Socket): { rx: number; state: number } {
  const local = `0100007F:${(sock.localPort as number).toString(16).toUpperCase().padStart(4, "0")}`;
  const remote = `0100007F:${(sock.remotePort as number).toString(16).toUpperCase().padStart(4, "0")}`;
  for (const line of readFileSync("/proc/net/tcp", "utf8").split("\n")) {
    const f = line.trim().split(/\s+/);
    if (f[1] === local && f[2] === remote)
      return { rx: Number.parseInt(f[4]?.split(":")[1] ?? "0", 16), state: Number.parseInt(f[3] ?? "0", 16) };
  }
  return { rx: 0, state: 0 };
}
const CLOSE_WAIT = 8;

/**
 * Records each chunk the socket's readers get and the pass it came in: a new pass starts whenever a microtask
 * checkpoint ran since the last chunk (Node runs one after every read callback it makes).
 */
function recordPasses(sock: Socket): { sizes: number[]; passes: number[] } {
  const sizes: number[] = [];
  const passes: number[] = [];
  let pass = 0;
  let inPass = false;
  sock.on("data", (d: Buffer) => {
    if (!inPass) {
      pass++;
      inPass = true;
      queueMicrotask(() => {
        inPass = false;
      });
    }
    sizes.push(d.length);
    passes.push(pass);
  });
  return { sizes, passes };
}

async function fetchOnce(client: Client, onChannel?: (ch: ClientChannel) => void): Promise<Buffer> {
  const ch = await forwardOut(client, exporter.port);
  onChannel?.(ch);
  const chunks: Buffer[] = [];
  const done = new Promise<Buffer>((resolve, reject) => {
    ch.on("data", (d: Buffer) => chunks.push(d));
    ch.on("error", reject);
    ch.on("close", () => resolve(Buffer.concat(chunks)));
  });
  ch.end("GET /metrics HTTP/1.1\r\nHost: exporter\r\nConnection: close\r\n\r\n");
  const response = await done;
  return response.subarray(response.indexOf("\r\n\r\n") + 4);
}

const WARM_UP_BYTES = 4 * 1024 * 1024;

/**
 * A TCP server that sends each connection WARM_UP_BYTES (the client reads them: the kernel grows its receive
 * window as it keeps up), waits for one byte from the client, then sends `bytes` and ends the connection.
 */
async function sender(bytes: Buffer): Promise<number> {
  const server = createServer((s) => {
    s.on("error", () => {});
    s.write(Buffer.alloc(WARM_UP_BYTES));
    s.once("data", () => s.end(bytes));
  });
  servers.push(server);
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  return (server.address() as { port: number }).port;
}

/**
 * Connects as the pool does, with read batching from the start (the size of a read is chosen after the one
 * before it), reads the warm-up, then pauses and asks for the rest.
 */
async function warmedUp(port: number, batching: () => boolean = () => true): Promise<Socket> {
  const sock = connectSshSocket({ host: "127.0.0.1", port });
  sock.on("error", () => {});
  setReadBatching(sock, () => batching());
  let got = 0;
  await new Promise<void>((resolve) => {
    const onData = (d: Buffer) => {
      got += d.length;
      if (got < WARM_UP_BYTES) return;
      sock.off("data", onData);
      sock.pause();
      resolve();
    };
    sock.on("data", onData);
  });
  expect(got).toBe(WARM_UP_BYTES);
  sock.write("go");
  return sock;
}

/** 128 KB that differ at every offset's 4-byte word, so a chunk out of order would show. */
function pattern(): Buffer {
  const b = Buffer.alloc(2 * SOLO_READ_BYTES);
  for (let i = 0; i < b.length; i += 4) b.writeUInt32BE(i, i);
  return b;
}

describe("read batching on an SSH socket", () => {
  it("reads at most 64 KB at a time and hands one poll's reads over together (real sshd)", async () => {
    const sock = connectSshSocket({ host: "127.0.0.1", port: sshd.port });
    sock.setNoDelay(true);
    const client = await connectSsh2(sshd, { sock });
    clients.push(client);
    // One response first: the kernel grows the socket's receive window as the reader keeps up.
    await fetchOnce(client);
    setReadBatching(sock, () => true);
    let seen: { sizes: number[]; passes: number[] } = { sizes: [], passes: [] };
    const body = fetchOnce(client, () => {
      sock.pause();
      seen = recordPasses(sock);
    });
    await waitFor("sshd to queue 200 KB on the socket", () => tcpRow(sock).rx >= 200_000);
    sock.resume();
    expect((await body).equals(exporter.body)).toBe(true);
    const { sizes, passes } = seen;
    expect(Math.max(...sizes)).toBeLessThanOrEqual(SOLO_READ_BYTES);
    // The queued 200 KB came in several reads, all in the first pass.
    const firstPass = sizes.filter((_, i) => passes[i] === passes[0]).reduce((a, b) => a + b, 0);
    expect(sizes.length).toBeGreaterThan(2);
    expect(firstPass).toBeGreaterThanOrEqual(200_000);
  });

  it("hands held chunks over before the end of the stream", async () => {
    const want = pattern();
    const sock = await warmedUp(await sender(want));
    await waitFor("the data and the FIN to be queued", () => {
      const row = tcpRow(sock);
      return row.rx >= want.length && row.state === CLOSE_WAIT; // the FIN counts as one byte
    });
    const chunks: Buffer[] = [];
    let afterEnd = 0;
    let ended = false;
    sock.on("data", (d: Buffer) => {
      if (ended) afterEnd++;
      chunks.push(d);
    });
    const end = new Promise<void>((resolve) =>
      sock.on("end", () => {
        ended = true;
        resolve();
      }),
    );
    sock.resume();
    await end;
    expect(afterEnd).toBe(0);
    expect(Buffer.concat(chunks).equals(want)).toBe(true);
    sock.destroy();
  });

  it("hands held chunks over before a destroy with an error", async () => {
    const want = pattern();
    const port = await sender(want);
    // Destroyed with an error while chunks are held: from the microtask checkpoint right after the first
    // read callback of the last batch, as a read error would be.
    let armed = false;
    const boom = new Error("boom");
    const sock = await warmedUp(port, () => {
      if (armed) {
        armed = false;
        queueMicrotask(() => sock.destroy(boom));
      }
      return true;
    });
    await waitFor("the data to be queued", () => tcpRow(sock).rx >= want.length);
    const chunks: Buffer[] = [];
    sock.on("data", (d: Buffer) => chunks.push(d));
    const failed = new Promise<Error>((resolve) => sock.on("error", resolve));
    armed = true;
    sock.resume();
    expect(await failed).toBe(boom);
    // At least the read that was held when the error came; none of it lost or out of order.
    const got = Buffer.concat(chunks);
    expect(got.length).toBeGreaterThanOrEqual(SOLO_READ_BYTES);
    expect(got.equals(want.subarray(0, got.length))).toBe(true);
  });
});
