/**
 * A short cut for a channel's data while an exchange reads it: the bytes ssh2 hands to the channel go straight
 * to the exchange's handler instead of through the Readable machinery (readableAddChunk, the 'data' emit, a
 * maybeReadMore tick and a read(0) per SSH packet). A 100 KB scrape is four packets; that machinery cost
 * about as much CPU as the relay's own work on them (docs/benchmarks.md, "Channel data without the stream").
 *
 * It relies on one thing about ssh2 1.17 (pinned in package.json): its CHANNEL_DATA handler passes each
 * packet's data to `channel.push(data)` (lib/client.js) and only looks at the return value for its window
 * accounting. test/proxy/channel-sink.test.ts fails when that stops being so; the exchange then still works,
 * through the 'data' event, only without the short cut.
 *
 * The short cut is taken only when the Readable would have emitted the chunk at once anyway: the stream is
 * flowing, nothing is buffered in it, and it is not destroyed. Otherwise (paused for backpressure, bytes
 * waiting, end of stream) the chunk goes through push as before, so order and backpressure are unchanged,
 * and `push(null)` (the end) always does: ssh2 closes a channel only once its readable side has ended.
 */
import type { ClientChannel } from "ssh2";

export type ChannelSink = (chunk: Buffer) => void;

const kSink = Symbol("sshscrape.channelSink");

interface Pushable {
  push(chunk: unknown, encoding?: BufferEncoding): boolean;
  readonly readableFlowing: boolean | null;
  readonly readableLength: number;
  readonly destroyed: boolean;
  [kSink]?: ChannelSink | undefined;
}

/** The push ssh2 calls for channel data, with the short cut in front of the Readable's own. */
function sinkPush(this: Pushable, chunk: unknown, encoding?: BufferEncoding): boolean {
  const sink = this[kSink];
  if (
    sink !== undefined &&
    chunk !== null &&
    this.readableFlowing === true &&
    this.readableLength === 0 &&
    !this.destroyed
  ) {
    sink(chunk as Buffer);
    return true;
  }
  const proto = Object.getPrototypeOf(this) as Pushable;
  return proto.push.call(this, chunk, encoding);
}

/**
 * Sends the channel's data to `sink` (when the stream would emit it at once) until called again with
 * undefined. The caller keeps its 'data' listener for the rest: paused, buffered or not short-cut data still
 * comes that way, in order.
 */
export function setChannelSink(channel: ClientChannel, sink: ChannelSink | undefined): void {
  const c = channel as unknown as Pushable;
  if (c.push !== sinkPush) c.push = sinkPush;
  c[kSink] = sink;
}

/** What a channel's current user (an exchange, or the idle list holding it) does with its events. */
export interface ChannelHandler {
  data(chunk: Buffer): void;
  end(): void;
  close(): void;
  error(err: Error): void;
}

const kHandler = Symbol("sshscrape.channelHandler");

interface Routed {
  [kHandler]?: ChannelHandler | undefined;
}

/**
 * Routes the channel's 'data', 'end', 'close' and 'error' events (and its data short cut) to `handler`, or
 * to nobody when undefined. The four listeners are added once per channel and stay: an exchange and the idle
 * list each used to add and remove their own on every request (16 listener operations per scrape, part of the
 * fixed cost per request in docs/benchmarks.md). With no handler, data is dropped as it was when nobody
 * listened: the channel is then either closing (and drained) or between two users in the same tick.
 */
export function setChannelHandler(channel: ClientChannel, handler: ChannelHandler | undefined): void {
  const r = channel as unknown as Routed;
  if (!(kHandler in r)) {
    channel.on("data", (chunk: Buffer) => r[kHandler]?.data(chunk));
    channel.on("end", () => r[kHandler]?.end());
    channel.on("close", () => r[kHandler]?.close());
    channel.on("error", (err: Error) => r[kHandler]?.error(err));
  }
  r[kHandler] = handler;
  setChannelSink(channel, handler?.data);
}
