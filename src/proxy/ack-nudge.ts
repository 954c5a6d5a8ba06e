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

/** The SSH connection's socket reads, and the responses being read on it. */
interface Connection {
  reading: Set<AckNudge>;
  /** sshd has TCP_NODELAY on this connection (pool.ts, proxy.noDelaySession): nothing waits for an ACK. */
  noDelay: boolean;
}
const connections = new WeakMap<object, Connection>();

type Ssh2Client = { _sock?: NodeJS.EventEmitter };

/** ssh2 1.17 keeps the socket of a connection in `client._sock` (as ssh-cork.ts). */
function connectionOf(client: Ssh2Client | undefined): Connection | undefined {
  const sock = client?._sock;
  if (sock === undefined || typeof sock.on !== "function") return undefined;
  let conn = connections.get(sock);
  if (conn === undefined) {
    const c: Connection = { reading: new Set(), noDelay: false };
    connections.set(sock, c);
    // After ssh2's own listener (added when it connected), so the read's packets were handled already.
    sock.on("data", () => {
      if (c.reading.size !== 1 || c.noDelay) return;
      for (const n of c.reading) n.soloRead();
    });
    conn = c;
  }
  return conn;
}

/**
 * sshd turned Nagle's algorithm off on this connection (pool.ts, proxy.noDelaySession): its responses are
 * nudged only after a 3 ms pause, as on a shared connection. Per-read nudges would only cost CPU there.
 */
export function markNoDelay(client: object): void {
  const conn = connectionOf(client as Ssh2Client);
  if (conn) conn.noDelay = true;
}

/**
 * One response's nudge. `more()` after each piece of the response that leaves more of it due; `stop()` when
 * the exchange is over.
 *
 * - While it is the only response being read on its SSH connection (one scrape at a time: nothing else on
 *   the connection carries an ACK back to sshd), the nudge is sent after every read of the SSH socket that
 *   leaves the response incomplete, a tick after the read (once its packets were handled). sshd's Nagle
 *   can hold the last segment of any SSH packet, not only the response's last one, and then the whole
 *   packet waits: at MTU 1500 that was the second packet of a 100 KB response in ~12 % of scrapes. A
 *   timer can only cut such a stall short (docs/benchmarks.md, "Latency at c=1").
 * - With other responses in flight on the connection, their requests and window adjustments carry ACKs
 *   often enough: after a 3 ms pause, once per response. More packets only cost CPU there.
 */
export class AckNudge {
  private quiet: NodeJS.Timeout | undefined;
  private nudged = false;
  private tick = false;
  private readonly conn: Connection | undefined;
  private open = true;

  constructor(
    private readonly ch: ClientChannel,
    /** Whether the response is still being read from this channel when the nudge is due. */
    private readonly waiting: () => boolean,
  ) {
    this.conn = connectionOf((ch as unknown as { _client?: Ssh2Client })._client);
    this.conn?.reading.add(this);
  }

  more(): void {
    if (this.conn?.reading.size === 1 && !this.conn.noDelay) return; // soloRead() after the socket read
    if (this.quiet) this.quiet.refresh();
    else if (!this.nudged) this.quiet = setTimeout(onQuiet, QUIET_MS, this).unref();
  }

  stop(): void {
    clearTimeout(this.quiet);
    this.quiet = undefined;
    this.open = false;
    this.conn?.reading.delete(this);
  }

  /** @internal A read of the SSH socket while this was the only response being read on it. */
  soloRead(): void {
    if (this.tick || !this.open) return;
    this.tick = true;
    process.nextTick(nudgeNow, this);
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
