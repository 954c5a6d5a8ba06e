/**
 * Whether the proxy is ready for Prometheus, served at /readyz. Without proxy.preconnect it is ready once it
 * listens. With it, ready means every configured host has been tried once (connected, or failed and in
 * backoff), so Prometheus, started after it (the generated units order it so), finds its connections open
 * instead of queueing its first round of scrapes for handshakes. A fleet slower than
 * READY_AFTER_AT_MOST_MS to connect is declared ready anyway: the remaining hosts connect in the
 * background, and a unit waiting for readiness must not hold Prometheus back indefinitely.
 */
export const READY_AFTER_AT_MOST_MS = 60_000;

export class Readiness {
  private settled = 0;
  private connected = 0;
  private forced = false;
  private readonly timer?: NodeJS.Timeout;

  /** `total`: hosts being preconnected (0 when preconnect is off or there is nothing to connect to). */
  constructor(readonly total: number) {
    if (total > 0) this.timer = setTimeout(() => this.force(), READY_AFTER_AT_MOST_MS).unref();
  }

  /** Records the first attempt of one host. */
  settle(ok: boolean): void {
    this.settled++;
    if (ok) this.connected++;
    if (this.settled >= this.total) clearTimeout(this.timer);
  }

  private force(): void {
    this.forced = true;
  }

  get ready(): boolean {
    return this.forced || this.settled >= this.total;
  }

  /** One line for /readyz. */
  describe(): string {
    if (this.total === 0) return "ready";
    const counts = `${this.connected} of ${this.total} configured hosts connected, ${this.settled - this.connected} failed`;
    if (this.settled >= this.total) return `ready: ${counts}`;
    if (this.forced)
      return `ready (after ${READY_AFTER_AT_MOST_MS / 1000} s; still connecting in the background): ${counts}`;
    return `not ready: connecting to configured hosts (proxy.preconnect): ${counts}, ${this.total - this.settled} still to try`;
  }
}
