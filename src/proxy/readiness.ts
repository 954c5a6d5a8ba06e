/**
 * Whether the proxy is ready for Prometheus, served at /readyz. Without proxy.preconnect it is ready once it
 * listens. With it, ready means every configured host has been tried once (connected, or failed and in
 * backoff), so Prometheus, started after it (the generated units order it so), finds its connections open
 * instead of queueing its first round of scrapes for handshakes.
 *
 * A unit waiting for readiness must not hold Prometheus back indefinitely, so the proxy gives up waiting
 * and says ready anyway (the remaining hosts connect in the background):
 * - after READY_STALLED_AFTER_MS (60 s) once no host has settled for READY_STALL_MS: handshakes are not making
 *   progress, so waiting longer would not open more connections before Prometheus starts;
 * - in any case after readyLimitMs(total) = 60 s + READY_PER_HOST_MS per host, at most 4 minutes: a limit
 *   that grows with the fleet because handshakes are bounded by the sshds' CPU (2 000 hosts on one lab
 *   machine's 125 sshds need ~60–100 s; docs/benchmarks-scale.md). nix/module.nix gives its ExecStartPost
 *   wait the same budget.
 * The rule is evaluated when asked (no timer): `now` is injectable for tests.
 */
export const READY_STALLED_AFTER_MS = 60_000;
/** No host settled for this long (after READY_STALLED_AFTER_MS): the preconnect stopped making progress. */
export const READY_STALL_MS = 15_000;
export const READY_PER_HOST_MS = 50;
/** Below the 5 minutes after which rules/ SshscrapeProxyNotReady fires: 3 600 hosts reach it. */
export const READY_AFTER_AT_MOST_MS = 240_000;

/** The latest the proxy declares itself ready with `total` hosts to preconnect. */
export function readyLimitMs(total: number): number {
  return Math.min(READY_STALLED_AFTER_MS + READY_PER_HOST_MS * total, READY_AFTER_AT_MOST_MS);
}

export class Readiness {
  private settled = 0;
  private connected = 0;
  private readonly started: number;
  private lastSettled: number;
  /** When it gave up waiting, and why (once given up, it stays ready). */
  private gaveUp?: { at: number; why: string };

  /** `total`: hosts being preconnected (0 when preconnect is off or there is nothing to connect to). */
  constructor(
    readonly total: number,
    private readonly now: () => number = Date.now,
  ) {
    this.started = now();
    this.lastSettled = this.started;
  }

  /** Records the first attempt of one host. */
  settle(ok: boolean): void {
    this.settled++;
    if (ok) this.connected++;
    this.lastSettled = this.now();
  }

  get ready(): boolean {
    if (this.settled >= this.total || this.gaveUp) return true;
    const t = this.now();
    const elapsed = t - this.started;
    const limit = readyLimitMs(this.total);
    if (elapsed >= limit) this.gaveUp = { at: t, why: `after ${Math.round(limit / 1000)} s` };
    else if (elapsed >= READY_STALLED_AFTER_MS && t - this.lastSettled >= READY_STALL_MS)
      this.gaveUp = {
        at: t,
        why: `after ${Math.round(elapsed / 1000)} s, no host connected or failed for ${READY_STALL_MS / 1000} s`,
      };
    return this.gaveUp !== undefined;
  }

  /** One line for /readyz. */
  describe(): string {
    if (this.total === 0) return "ready";
    const counts = `${this.connected} of ${this.total} configured hosts connected, ${this.settled - this.connected} failed`;
    if (this.settled >= this.total) return `ready: ${counts}`;
    if (this.ready) return `ready (${this.gaveUp?.why}; still connecting in the background): ${counts}`;
    return `not ready: connecting to configured hosts (proxy.preconnect): ${counts}, ${this.total - this.settled} still to try`;
  }
}
