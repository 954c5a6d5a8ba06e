/**
 * Keep-alive HTTP connections to exporters, each one a direct-tcpip channel on a pooled SSH connection.
 * A channel whose response ended cleanly goes back to an idle list and carries the next request to the same
 * exporter, as a persistent `ssh -L` tunnel (and sshified's Go http.Transport) would: a fresh channel per
 * request costs a CHANNEL_OPEN round trip plus sshd's TCP connect to the exporter, which made sshscrape 3×
 * slower than a tunnel at one scrape at a time (docs/benchmarks.md). The exchange itself is src/proxy/exchange.ts.
 */
import type { ClientChannel } from "ssh2";
import { type ChannelHandler, setChannelHandler } from "./channel-sink.js";

/**
 * A channel in an idle list, and its handler while there: any event (a byte, the end, a close, an error) drops
 * it from the list and closes it. One object per put, where closures for each event were six.
 */
class IdleEntry implements ChannelHandler {
  constructor(
    private readonly list: IdleChannels,
    readonly channel: ClientChannel,
    /** Date.now() time at which the channel has been idle too long. */
    readonly expires: number,
  ) {}

  /** Also the channel's data short cut (channel-sink.ts), called without `this`: hence a bound function. */
  readonly data = (): void => this.drop();
  end(): void {
    this.drop();
  }
  close(): void {
    this.drop();
  }
  error(): void {
    this.drop();
  }

  /** Removes the idle-time handler. */
  release(): void {
    setChannelHandler(this.channel, undefined);
  }

  private drop(): void {
    this.list.remove(this);
    this.release();
    this.channel.close();
  }
}

/**
 * Idle channels to one exporter, most recently used first (LIFO: the channels that stay idle longest time out
 * and close, so the list shrinks to what the load needs). An idle channel that closes, ends, errs or receives
 * a byte (nothing may arrive between responses) leaves the list and is closed.
 *
 * The idle timeouts share one Timeout per list, armed for the earliest expiry: a Timeout created on every put
 * and cleared on every take was part of the proxy's fixed cost per request (docs/benchmarks.md, "Fixed cost
 * per request"). When the list empties the Timeout is left to fire once for nothing (it is unref'd): one
 * request at a time empties the list on every take, and a Timeout per request was garbage per scrape
 * (docs/benchmarks.md, "Garbage per scrape").
 */
export class IdleChannels {
  private readonly list: IdleEntry[] = [];
  private timer: NodeJS.Timeout | undefined;
  private armedAt = Number.POSITIVE_INFINITY;
  /** Exchanges using this exporter right now (holding a channel or opening one). */
  inFlight = 0;

  constructor(private readonly idleMs: number) {}

  /** The most recently used idle channel, or undefined. */
  take(): ClientChannel | undefined {
    const entry = this.list.pop();
    if (!entry) return undefined;
    entry.release();
    return entry.channel;
  }

  /**
   * Keeps a channel whose last response ended cleanly for the next request, for `proxy.idleTimeout` or less
   * if the exporter's `Keep-Alive: timeout=N` says so (a second early, as node:http's Agent does).
   */
  put(channel: ClientChannel, keepAliveHintMs?: number): void {
    const ms = keepAliveHintMs !== undefined ? Math.min(this.idleMs, keepAliveHintMs) : this.idleMs;
    if (ms <= 0) {
      channel.close();
      return;
    }
    const entry = new IdleEntry(this, channel, Date.now() + ms);
    setChannelHandler(channel, entry);
    this.list.push(entry);
    if (entry.expires < this.armedAt) this.arm(entry.expires);
  }

  /** @internal An entry whose channel closed, ended, erred or sent a byte while idle. */
  remove(entry: IdleEntry): void {
    const i = this.list.indexOf(entry);
    if (i >= 0) this.list.splice(i, 1);
  }

  private arm(at: number): void {
    if (this.timer !== undefined) clearTimeout(this.timer);
    this.armedAt = at;
    this.timer = setTimeout(this.expire, Math.max(0, at - Date.now())).unref();
  }

  private disarm(): void {
    if (this.timer === undefined) return;
    clearTimeout(this.timer);
    this.timer = undefined;
    this.armedAt = Number.POSITIVE_INFINITY;
  }

  /** Closes the channels idle for too long and arms the timer for the next one. */
  private readonly expire = (): void => {
    this.timer = undefined;
    this.armedAt = Number.POSITIVE_INFINITY;
    const now = Date.now();
    let next = Number.POSITIVE_INFINITY;
    const keep: IdleEntry[] = [];
    const gone: IdleEntry[] = [];
    for (const e of this.list) {
      if (e.expires <= now) gone.push(e);
      else {
        keep.push(e);
        if (e.expires < next) next = e.expires;
      }
    }
    this.list.splice(0, this.list.length, ...keep);
    if (next !== Number.POSITIVE_INFINITY) this.arm(next);
    for (const e of gone) {
      e.release();
      e.channel.close();
    }
  };

  get size(): number {
    return this.list.length;
  }

  /** No idle channel and no exchange in flight: nothing is lost when the list is dropped. */
  get unused(): boolean {
    return this.list.length === 0 && this.inFlight === 0;
  }

  /** Closes every idle channel (shutdown). */
  destroy(): void {
    this.disarm();
    for (const entry of this.list.splice(0)) {
      entry.release();
      entry.channel.close();
    }
  }
}

/** Idle lists kept before unused ones are dropped; see UpstreamAgents.get. */
const LISTS_BEFORE_SWEEP = 256;

/**
 * One idle list per (SSH endpoint, exporter address): idle channels are only reused for the same exporter.
 * Clients choose the targets (in sshified mode any port of any known host), so lists that hold no channel and
 * serve no exchange are dropped once there are many: the map stays proportional to the exporters actually in
 * use, not to every target ever asked for.
 */
export class UpstreamAgents {
  private readonly lists = new Map<string, IdleChannels>();
  private sweepAt = LISTS_BEFORE_SWEEP;

  constructor(private readonly idleMs: number) {}

  get(key: string): IdleChannels {
    let list = this.lists.get(key);
    if (!list) {
      if (this.lists.size >= this.sweepAt) this.sweep();
      list = new IdleChannels(this.idleMs);
      this.lists.set(key, list);
    }
    return list;
  }

  /** Drops unused lists; the next sweep waits until the map has doubled, so sweeping stays amortised O(1). */
  private sweep(): void {
    for (const [key, list] of this.lists) if (list.unused) this.lists.delete(key);
    this.sweepAt = Math.max(LISTS_BEFORE_SWEEP, this.lists.size * 2);
  }

  get size(): number {
    return this.lists.size;
  }

  /** Closes every idle channel (shutdown). */
  destroy(): void {
    for (const list of this.lists.values()) list.destroy();
    this.lists.clear();
  }
}
