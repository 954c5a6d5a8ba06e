/**
 * The channel-data short cut (src/proxy/channel-sink.ts) against real OpenSSH: it depends on ssh2 handing a
 * channel's data to `channel.push`, and must keep every byte in order when the stream is paused.
 */
import type { Client, ClientChannel } from "ssh2";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { setChannelSink } from "../../src/proxy/channel-sink.js";
import { type Exporter, metricsBody, startExporter } from "../helpers/exporter.js";
import { waitFor } from "../helpers/processes.js";
import { connectSsh2, forwardOut } from "../helpers/ssh2-client.js";
import { type Sshd, startSshd } from "../helpers/sshd.js";

let sshd: Sshd;
let exporter: Exporter;
let client: Client;

beforeAll(async () => {
  exporter = await startExporter({ body: metricsBody(100_000) });
  sshd = await startSshd({ permitOpen: [exporter.port] });
  client = await connectSsh2(sshd);
});

afterAll(async () => {
  client?.end();
  await exporter?.close();
  await sshd?.stop();
});

const openChannel = () => forwardOut(client, exporter.port);

const REQUEST = "GET /metrics HTTP/1.1\r\nHost: exporter\r\nConnection: close\r\n\r\n";

/** Reads one whole response (the exporter closes after it), noting which way each chunk came. */
async function readAll(ch: ClientChannel, sink: boolean, pauseFirst = false) {
  const chunks: Buffer[] = [];
  let viaSink = 0;
  let viaData = 0;
  ch.on("data", (d: Buffer) => {
    viaData += d.length;
    chunks.push(d);
  });
  if (sink)
    setChannelSink(ch, (d) => {
      viaSink += d.length;
      chunks.push(d);
    });
  if (pauseFirst) ch.pause();
  const ended = new Promise<void>((resolve) => ch.once("end", () => resolve()));
  ch.write(REQUEST);
  if (pauseFirst) {
    // Bytes arriving while paused are buffered by the stream, not handed to the sink.
    await waitFor("bytes buffered in the paused channel", () => ch.readableLength > 0, 10_000);
    expect(viaSink).toBe(0);
    ch.resume();
  }
  await ended;
  ch.close();
  const all = Buffer.concat(chunks);
  const split = all.indexOf("\r\n\r\n");
  return { head: all.subarray(0, split).toString("latin1"), body: all.subarray(split + 4), viaSink, viaData };
}

describe("channel sink", () => {
  it("receives a channel's data from ssh2 directly (ssh2 still delivers it through push)", async () => {
    const r = await readAll(await openChannel(), true);
    expect(r.head).toMatch(/^HTTP\/1\.1 200 OK/);
    expect(r.body.equals(exporter.body)).toBe(true);
    // If ssh2 stopped calling channel.push, everything would come through 'data' and this would be 0.
    expect(r.viaSink).toBeGreaterThan(0);
  });

  it("keeps every byte in order when the channel was paused with data buffered", async () => {
    const r = await readAll(await openChannel(), true, true);
    expect(r.viaData).toBeGreaterThan(0);
    expect(r.body.equals(exporter.body)).toBe(true);
  });

  it("leaves the data to the 'data' event once the sink is removed", async () => {
    const ch = await openChannel();
    setChannelSink(ch, () => {
      throw new Error("the removed sink was called");
    });
    setChannelSink(ch, undefined);
    const r = await readAll(ch, false);
    expect(r.viaSink).toBe(0);
    expect(r.body.equals(exporter.body)).toBe(true);
  });
});
