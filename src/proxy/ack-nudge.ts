/**
 * The window-adjust nudge: a packet to sshd whose only purpose is the TCP ACK it carries.
 *
 * sshd leaves Nagle's algorithm on for a connection until it starts a session's command (sshscrape only
 * forwards ports, unless proxy.noDelaySession: pool.ts), so the last, short segment of a response can wait
 * in sshd's kernel until this side acknowledges what it already got; with nothing to send back, this side's kernel delays that ACK up to 40 ms
 * (docs/benchmarks.md, "Where the waiting at c=1 goes"). When a response pauses mid-body, the exchange sends
 * the channel's window adjustment early (SSH_MSG_CHANNEL_WINDOW_ADJUST, RFC 4254 §5.2; ssh2 would send it only
 * after half the 2 MB window), and the ACK rides along.
 */
import type { ClientChannel } from "ssh2";

/** ssh2's receive window per channel (lib/Channel.js MAX_WINDOW in ssh2 1.17, pinned in package.json). */
const SSH2_MAX_WINDOW = 2 * 1024 * 1024;

/** How long a response may pause mid-body before this side sends a packet to carry its ACK to sshd. */
export const QUIET_MS = 3;

interface Ssh2ChannelInternals {
  incoming: { window: number };
  outgoing: { id: number; state: string };
  _client: { _protocol: { channelWindowAdjust(id: number, bytes: number): void } };
}

/**
 * Gives the channel its full window back at once instead of when half the window is used up (ssh2's rule).
 * Returns whether a packet was sent.
 */
export function adjustWindowNow(ch: ClientChannel): boolean {
  const c = ch as unknown as Ssh2ChannelInternals;
  if (c.outgoing.state !== "open") return false;
  const bytes = SSH2_MAX_WINDOW - c.incoming.window;
  if (bytes <= 0) return false;
  c.incoming.window += bytes;
  c._client._protocol.channelWindowAdjust(c.outgoing.id, bytes);
  return true;
}

/** What the nudges know of one SSH connection (by ssh2's Client object). */
interface Connection {
  /** Responses being read on it. */
  reading: number;
  /** sshd has TCP_NODELAY on this connection (pool.ts, proxy.noDelaySession): nothing waits for an ACK. */
  noDelay: boolean;
}
const connections = new WeakMap<object, Connection>();

function connectionOf(client: object): Connection {
  let conn = connections.get(client);
  if (conn === undefined) {
    conn = { reading: 0, noDelay: false };
    connections.set(client, conn);
  }
  return conn;
}

/**
 * sshd turned Nagle's algorithm off on this connection (pool.ts, proxy.noDelaySession): its responses are
 * nudged only after a 3 ms pause, as on a shared connection. Per-packet nudges would only cost CPU there.
 */
export function markNoDelay(client: object): void {
  connectionOf(client).noDelay = true;
}

/**
 * One response's nudge. `more()` after each piece of the response that leaves more of it due; `stop()` when
 * the exchange is over.
 *
 * - While it is the only response being read on its SSH connection, and was when its request went out (one
 *   scrape at a time: nothing else on the connection carries an ACK back to sshd), the nudge is sent after
 *   every piece that leaves the response incomplete, once per socket read (a tick after the read's last
 *   packet was handled). sshd's Nagle can hold the last segment of any SSH packet, not only the response's
 *   last one, and then the whole packet waits: at MTU 1500 that was the second packet of a 100 KB response
 *   in ~12 % of scrapes. A timer can only cut such a stall short (docs/benchmarks.md, "Latency at c=1").
 *   A response that started among others and is left alone (the moments between scrapes at c=16) keeps the
 *   timer: per-packet nudges there cost CPU for stalls that hardly happen.
 * - With other responses in flight on the connection, their requests and window adjustments carry ACKs
 *   often enough: after a 3 ms pause, once per response. More packets only cost CPU there.
 */
export class AckNudge {
  private quiet: NodeJS.Timeout | undefined;
  private nudged = false;
  private tick = false;
  private open = true;
  private readonly conn: Connection;
  /** No other response was being read on the connection when this one started. */
  private readonly solo: boolean;

  constructor(
    private readonly ch: ClientChannel,
    /** Whether the response is still being read from this channel when the nudge is due. */
    private readonly waiting: () => boolean,
  ) {
    this.conn = connectionOf((ch as unknown as { _client?: object })._client ?? ch);
    this.solo = this.conn.reading === 0;
    this.conn.reading++;
  }

  more(): void {
    if (this.solo && this.conn.reading === 1 && !this.conn.noDelay) {
      if (!this.tick) {
        this.tick = true;
        process.nextTick(nudgeNow, this);
      }
    } else if (this.quiet) this.quiet.refresh();
    else if (!this.nudged) this.quiet = setTimeout(onQuiet, QUIET_MS, this).unref();
  }

  stop(): void {
    clearTimeout(this.quiet);
    this.quiet = undefined;
    if (!this.open) return;
    this.open = false;
    this.conn.reading--;
  }

  /** @internal */
  fire(timer: boolean): void {
    if (timer) this.quiet = undefined;
    else this.tick = false;
    if (!this.open || !this.waiting()) return;
    // A channel paused for a slow client (exchange.ts) gets its window back only as its data is taken:
    // that is the backpressure that stops sshd (test/proxy/backpressure.test.ts).
    if (this.ch.isPaused() || this.ch.readableLength > 0) return;
    if (timer) this.nudged = true;
    adjustWindowNow(this.ch);
  }
}

function onQuiet(nudge: AckNudge): void {
  nudge.fire(true);
}

function nudgeNow(nudge: AckNudge): void {
  nudge.fire(false);
}
