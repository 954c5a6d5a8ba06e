/**
 * The window-adjust nudge: a packet to sshd whose only purpose is the TCP ACK it carries.
 *
 * sshd leaves Nagle's algorithm on for connections without a pty (sshscrape's keys are `restrict`ed to port
 * forwarding), so the last, short segment of a response can wait in sshd's kernel until this side
 * acknowledges what it already got; with nothing to send back, this side's kernel delays that ACK up to 40 ms
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

/**
 * One response's nudge. `more()` after each piece of the response that leaves more of it due; `stop()` when
 * the exchange is over. Once per response: one ACK releases what sshd holds; more packets only cost CPU at
 * MTU 1500, where reads come in many small pieces and pauses are common but no stall happens.
 */
export class AckNudge {
  private quiet: NodeJS.Timeout | undefined;
  private nudged = false;

  constructor(
    private readonly ch: ClientChannel,
    /** Whether the response is still being read from this channel when the timer fires. */
    private readonly waiting: () => boolean,
  ) {}

  more(): void {
    if (this.quiet) this.quiet.refresh();
    else if (!this.nudged) this.quiet = setTimeout(onQuiet, QUIET_MS, this).unref();
  }

  stop(): void {
    clearTimeout(this.quiet);
    this.quiet = undefined;
  }

  /** @internal */
  fire(): void {
    this.quiet = undefined;
    if (!this.waiting()) return;
    this.nudged = true;
    adjustWindowNow(this.ch);
  }
}

function onQuiet(nudge: AckNudge): void {
  nudge.fire();
}
