/**
 * Fewer writes on the SSH connection (src/proxy/ssh-cork.ts), against real OpenSSH: a turn's first request is
 * written at once, the later ones of the same turn leave together in one writev, and every one is answered.
 */
import type { Writable } from "node:stream";
import type { Client } from "ssh2";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { corkForThisTurn, sshStream } from "../../src/proxy/ssh-cork.js";
import { type Exporter, startExporter } from "../helpers/exporter.js";
import { connectSsh2, forwardOut } from "../helpers/ssh2-client.js";
import { type Sshd, startSshd } from "../helpers/sshd.js";

let sshd: Sshd;
let exporter: Exporter;
let client: Client;

beforeAll(async () => {
  exporter = await startExporter({ body: Buffer.from("up 1\n") });
  sshd = await startSshd({ permitOpen: [exporter.port] });
  client = await connectSsh2(sshd);
});

afterAll(async () => {
  client?.end();
  await exporter?.close();
  await sshd?.stop();
});

/** Counts the socket's single writes and writevs from now on. */
function countWrites(sock: Writable) {
  const counts = { write: 0, writev: 0, chunks: 0 };
  const s = sock as unknown as {
    _write: (...a: unknown[]) => void;
    _writev?: (chunks: unknown[], cb: unknown) => void;
  };
  const write = s._write;
  const writev = s._writev;
  s._write = function (this: unknown, ...a: unknown[]) {
    counts.write++;
    return write.apply(this, a);
  };
  s._writev = function (this: unknown, chunks: unknown[], cb: unknown) {
    counts.writev++;
    counts.chunks += chunks.length;
    return writev?.call(this, chunks, cb);
  };
  return counts;
}

const REQUEST = "GET /metrics HTTP/1.1\r\nHost: exporter\r\n\r\n";

function answered(ch: Awaited<ReturnType<typeof forwardOut>>): Promise<string> {
  return new Promise((resolve) => {
    let text = "";
    ch.on("data", (d: Buffer) => {
      text += d.toString("latin1");
      if (text.endsWith("up 1\n")) resolve(text);
    });
  });
}

describe("corking the SSH connection per event-loop turn", () => {
  it("finds the socket ssh2 writes the connection to (fails if ssh2 moves it)", async () => {
    const ch = await forwardOut(client, exporter.port);
    const sock = sshStream(ch);
    expect(sock).toBeDefined();
    expect(sock).toBe((client as unknown as { _sock: unknown })._sock);
    ch.close();
  });

  it("writes a turn's only request at once: one scrape at a time waits for nothing", async () => {
    const ch = await forwardOut(client, exporter.port);
    const sock = sshStream(ch) as Writable;
    const counts = countWrites(sock);
    const answer = answered(ch);
    corkForThisTurn(ch);
    ch.write(REQUEST);
    expect(sock.writableCorked).toBe(0);
    expect(counts.write + counts.writev).toBe(1);
    expect(await answer).toMatch(/^HTTP\/1\.1 200 OK/);
    ch.close();
  });

  it("sends the later requests of one turn in one writev, and each gets its answer", async () => {
    const channels = await Promise.all([1, 2, 3, 4].map(() => forwardOut(client, exporter.port)));
    const sock = sshStream(channels[0] as (typeof channels)[0]) as Writable;
    const counts = countWrites(sock);
    const answers = channels.map(answered);
    for (const ch of channels) {
      corkForThisTurn(ch);
      ch.write(REQUEST);
    }
    // The first went out at once; the other three wait for the end of the turn.
    expect(counts.write + counts.writev).toBe(1);
    expect(sock.writableCorked).toBe(1);
    const texts = await Promise.all(answers);
    for (const t of texts) expect(t).toMatch(/^HTTP\/1\.1 200 OK/);
    // Without the cork each request packet would be its own write.
    expect(counts.writev).toBeGreaterThanOrEqual(1);
    expect(counts.chunks).toBeGreaterThanOrEqual(3);
    expect(sock.writableCorked).toBe(0);
    for (const ch of channels) ch.close();
  });
});
