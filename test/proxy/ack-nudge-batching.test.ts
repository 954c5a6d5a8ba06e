/**
 * Which SSH connections have their reads batched (src/proxy/ssh-read.ts, "Read batching"; the predicate is
 * ack-nudge.ts's, per connection): one response at a time that was alone when its request went out, or none,
 * on a connection whose sshd keeps Nagle's algorithm on. Not with two responses in flight (c=16: reads of up
 * to 1 MB, handed over at once, as before) nor with proxy.noDelaySession (sshd holds nothing). Real sshd, the
 * socket dialled as the pool dials it.
 */
import type { Client, ClientChannel } from "ssh2";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { AckNudge, markNoDelay } from "../../src/proxy/ack-nudge.js";
import { connectSshSocket, readsBatched } from "../../src/proxy/ssh-read.js";
import { type Exporter, startExporter } from "../helpers/exporter.js";
import { connectSsh2, forwardOut } from "../helpers/ssh2-client.js";
import { type Sshd, startSshd } from "../helpers/sshd.js";

let sshd: Sshd;
let exporter: Exporter;
const clients: Client[] = [];

beforeAll(async () => {
  exporter = await startExporter({ body: Buffer.from("x 1\n") });
  sshd = await startSshd({ permitOpen: [exporter.port] });
});

afterAll(async () => {
  for (const c of clients) c.end();
  await exporter?.close();
  await sshd?.stop();
});

async function poolLikeClient() {
  const sock = connectSshSocket({ host: "127.0.0.1", port: sshd.port });
  sock.setNoDelay(true);
  const client = await connectSsh2(sshd, { sock });
  clients.push(client);
  return { client, sock };
}

describe("read batching follows the connection's responses", () => {
  it("is on for one solo response and when idle, off with two in flight", async () => {
    const { client, sock } = await poolLikeClient();
    const [a, b]: ClientChannel[] = await Promise.all([
      forwardOut(client, exporter.port),
      forwardOut(client, exporter.port),
    ]);
    expect(readsBatched(sock)).toBe(false); // no response read on it yet: the predicate is set by the first
    const first = new AckNudge(a as ClientChannel, () => true);
    expect(readsBatched(sock)).toBe(true);
    const second = new AckNudge(b as ClientChannel, () => true);
    expect(readsBatched(sock)).toBe(false);
    first.stop();
    // The one left started among others: its connection is read as a shared one until it is done.
    expect(readsBatched(sock)).toBe(false);
    second.stop();
    expect(readsBatched(sock)).toBe(true);
    const third = new AckNudge(a as ClientChannel, () => true);
    expect(readsBatched(sock)).toBe(true);
    third.stop();
  });

  it("is off on a connection whose sshd has TCP_NODELAY (proxy.noDelaySession)", async () => {
    const { client, sock } = await poolLikeClient();
    const ch = await forwardOut(client, exporter.port);
    const nudge = new AckNudge(ch, () => true);
    expect(readsBatched(sock)).toBe(true);
    markNoDelay(client);
    expect(readsBatched(sock)).toBe(false);
    nudge.stop();
  });
});
