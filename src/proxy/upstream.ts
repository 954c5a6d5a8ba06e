/**
 * Keep-alive HTTP connections to exporters, each one a direct-tcpip channel on a pooled SSH connection.
 * A channel whose response ended cleanly goes back to an idle list and carries the next request to the same
 * exporter, as a persistent `ssh -L` tunnel (and sshified's Go http.Transport) would: a fresh channel per
 * request costs a CHANNEL_OPEN round trip plus sshd's TCP connect to the exporter, which made sshscrape 3×
 * slower than a tunnel at one scrape at a time (docs/benchmarks.md). The exchange itself is src/proxy/exchange.ts.
 */
import type { ClientChannel } from "ssh2";

interface IdleEntry {
  channel: ClientChannel;
  timer: NodeJS.Timeout;
  /** Removes the idle-time listeners and the timer. */
  release(): void;
}

/**
 * Idle channels to one exporter, most recently used first (LIFO: the channels that stay idle longest time out
 * and close, so the list shrinks to what the load needs). An idle channel that closes, ends, errs or receives
 * a byte (nothing may arrive between responses) leaves the list and is closed.
 */
export class IdleChannels {
  private readonly list: IdleEntry[] = [];
  /** Exchanges using this exporter right now (holding a channel or opening one). */
  inFlight = 0;

  constructor(private readonly idleMs: number) {}

  /** The most recently used idle channel, or undefined. */
  take(): ClientChannel | undefined {
    const entry = this.list.pop();
    entry?.release();
    return entry?.channel;
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
    const drop = () => {
      const i = this.list.indexOf(entry);
      if (i >= 0) this.list.splice(i, 1);
      entry.release();
      channel.close();
    };
    const onError = () => drop();
    const entry: IdleEntry = {
      channel,
      timer: setTimeout(drop, ms).unref(),
      release: () => {
        clearTimeout(entry.timer);
        channel.off("data", drop);
        channel.off("end", drop);
        channel.off("close", drop);
        channel.off("error", onError);
      },
    };
    channel.on("data", drop);
    channel.on("end", drop);
    channel.on("close", drop);
    channel.on("error", onError);
    this.list.push(entry);
  }

  get size(): number {
    return this.list.length;
  }

  /** No idle channel and no exchange in flight: nothing is lost when the list is dropped. */
  get unused(): boolean {
    return this.list.length === 0 && this.inFlight === 0;
  }

  /** Closes every idle channel (shutdown). */
  destroy(): void {
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
