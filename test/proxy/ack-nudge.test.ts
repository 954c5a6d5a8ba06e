/**
 * The window-adjust nudge (src/proxy/ack-nudge.ts) against real OpenSSH: while a response is the only one
 * being read on its SSH connection (and was when it started), every piece of it that arrives in its own
 * socket read and leaves it incomplete is followed by a window adjustment (the packet that carries this side's ACK to sshd, whose
 * Nagle would otherwise hold the tail of the next SSH packet); otherwise at most one per response.
 *
 * The exporter here writes a response in pieces, each only after the test saw the previous one arrive, so
 * that every piece is its own socket read. Adjustments are counted where ssh2 sends them
 * (`_protocol.channelWindowAdjust`, ssh2 1.17). What this cannot show is sshd's Nagle itself: that and the
 * latency it costs are measured in docs/benchmarks.md ("Latency at c=1").
 */
import { createServer, type Server, type Socket } from "node:net";
import type { Client, ClientChannel } from "ssh2";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { AckNudge } from "../../src/proxy/ack-nudge.js";
import { waitFor } from "../helpers/processes.js";
import { connectSsh2, forwardOut } from "../helpers/ssh2-client.js";
import { type Sshd, startSshd } from "../helpers/sshd.js";

let sshd: Sshd;
let client: Client;
let exporter: Server;
let port = 0;
/** The exporter's side of each channel, in the order they connected. */
const accepted: Socket[] = [];
let adjustments = 0;

beforeAll(async () => {
  exporter = createServer((s) => {
    s.on("error", () => {});
    accepted.push(s);
  });
  await new Promise<void>((resolve) => exporter.listen(0, "127.0.0.1", resolve));
  port = (exporter.address() as { port: number }).port;
  sshd = await startSshd({ permitOpen: [port] });
  client = await connectSsh2(sshd);
  const protocol = (client as unknown as { _protocol: { channelWindowAdjust: (...a: unknown[]) => void } })
    ._protocol;
  const send = protocol.channelWindowAdjust;
  protocol.channelWindowAdjust = function (this: unknown, ...a: unknown[]) {
    adjustments++;
    return send.apply(this, a);
  };
});

afterAll(async () => {
  client?.end();
  for (const s of accepted) s.destroy();
  await new Promise((resolve) => exporter?.close(resolve));
  await sshd?.stop();
});

/** A channel whose response is read with a nudge, as the exchange does: more() while it is incomplete. */
async function reading(total: number) {
  const before = accepted.length;
  const ch: ClientChannel = await forwardOut(client, port);
  await waitFor("the exporter to accept the channel", () => accepted.length > before);
  const exporterSide = accepted[before] as Socket;
  let got = 0;
  const nudge = new AckNudge(ch, () => got < total);
  ch.on("data", (d: Buffer) => {
    got += d.length;
    if (got < total) nudge.more();
  });
  return {
    nudge,
    /** Writes `bytes` more and waits until the channel has them all. */
    async piece(bytes: number) {
      const want = got + bytes;
      exporterSide.write(Buffer.alloc(bytes, "x"));
      await waitFor("the piece to arrive", () => got >= want);
    },
    close() {
      nudge.stop();
      ch.close();
    },
  };
}

describe("the window-adjust nudge", () => {
  it("follows every incomplete piece while the response is alone on its connection", async () => {
    const r = await reading(100_000);
    const start = adjustments;
    await r.piece(20_000);
    await waitFor("a nudge after the first piece", () => adjustments >= start + 1);
    await r.piece(20_000);
    // The 3 ms timer of a shared connection nudges once per response: a second one comes only from the read.
    await waitFor("a nudge after the second piece", () => adjustments >= start + 2);
    await r.piece(20_000);
    await waitFor("a nudge after the third piece", () => adjustments >= start + 3);
    r.close();
  });

  it("with another response in flight, nudges once per response; alone again once the other ends", async () => {
    const a = await reading(100_000);
    const b = await reading(100_000);
    const start = adjustments;
    await a.piece(20_000);
    await waitFor("the pause's nudge", () => adjustments >= start + 1);
    await a.piece(20_000);
    await a.piece(20_000);
    // b's pause would be the only other source; b has not read anything, so its timer never ran.
    expect(adjustments).toBe(start + 1);
    b.close();
    await a.piece(20_000);
    await waitFor("a nudge after a read now that a is alone", () => adjustments >= start + 2);
    a.close();
  });

  it("a response that started among others keeps the timer when it is left alone", async () => {
    const a = await reading(100_000);
    const b = await reading(100_000); // its request went out while a was being read
    a.close();
    const start = adjustments;
    await b.piece(20_000);
    await waitFor("the pause's nudge", () => adjustments >= start + 1);
    await b.piece(20_000);
    await b.piece(20_000);
    expect(adjustments).toBe(start + 1);
    b.close();
  });
});
