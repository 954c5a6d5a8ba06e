/**
 * What every finished request leaves behind: its metrics (always, with bounded labels) and its log line
 * (rate-limited). Refused requests come from anyone who can reach the proxy, so one line per refusal would
 * let an anonymous client fill the journal; sshscrape_errors_total keeps the full count instead.
 */
import type { Logger } from "pino";
import { ClientGoneError } from "./errors.js";
import type { ProxyMetrics } from "./metrics.js";
import type { ProxyError } from "./proxy-error.js";

/** Log lines per kind of failure per window; the rest are counted and summed up in one line. */
export const LOG_BURST = 5;
export const LOG_WINDOW_MS = 60_000;

interface Window {
  code: string;
  target: string;
  started: number;
  logged: number;
  suppressed: number;
}

export class RequestLog {
  private readonly windows = new Map<string, Window>();
  private readonly timer: NodeJS.Timeout;

  constructor(
    private readonly metrics: ProxyMetrics,
    private readonly logger: Logger,
    private readonly now: () => number = Date.now,
  ) {
    this.timer = setInterval(() => this.flush(false), LOG_WINDOW_MS).unref();
  }

  /** A proxied request or tunnel ended: metrics for it, and a log line when it failed. */
  record(target: string, status: number, started: number, err?: ProxyError): void {
    const label = target === "other" ? target : this.metrics.targetLabel.of(target);
    this.metrics.requestTally.record(label, status, (performance.now() - started) / 1000);
    if (!err) return;
    this.metrics.targetErrors.inc({ target: label, type: err.code, phase: err.phase });
    this.failed(target, status, err);
  }

  /** A failure without a routed target (parser errors, refused before the target was known). */
  failed(target: string, status: number, err: ProxyError): void {
    this.metrics.errors.inc({ type: err.code });
    const cause = err.cause instanceof Error ? err.cause.message : undefined;
    const fields = { target, status, phase: err.phase, code: err.code, error: err.message, cause };
    if (err instanceof ClientGoneError) this.logger.debug(fields, "client went away");
    else if (err.code.startsWith("HOST_KEY_")) this.logger.error(fields, "request failed");
    else if (
      this.admit(err.code, status < 500 || target === "other" ? "" : this.metrics.targetLabel.of(target))
    )
      this.logger.warn(fields, "request failed");
  }

  /** Whether a line of this kind may be written now; counts the ones that may not. */
  private admit(code: string, target: string): boolean {
    const key = `${code} ${target}`;
    const now = this.now();
    let w = this.windows.get(key);
    if (w && now - w.started >= LOG_WINDOW_MS) {
      this.summarise(w);
      w = undefined;
    }
    if (!w) {
      w = { code, target, started: now, logged: 0, suppressed: 0 };
      this.windows.set(key, w);
    }
    if (w.logged < LOG_BURST) {
      w.logged++;
      return true;
    }
    w.suppressed++;
    this.metrics.logSuppressed.inc({ type: code });
    return false;
  }

  private summarise(w: Window): void {
    if (w.suppressed === 0) return;
    this.logger.warn(
      {
        code: w.code,
        ...(w.target ? { target: w.target } : {}),
        suppressed: w.suppressed,
        seconds: Math.round((this.now() - w.started) / 1000),
      },
      `${w.suppressed} more failed requests like the ones above were not logged (rate limit; see sshscrape_errors_total)`,
    );
  }

  /** Writes the summaries of windows that are over (or all of them, at shutdown). */
  flush(all: boolean): void {
    const now = this.now();
    for (const [key, w] of this.windows) {
      if (!all && now - w.started < LOG_WINDOW_MS) continue;
      this.summarise(w);
      this.windows.delete(key);
    }
  }

  close(): void {
    clearInterval(this.timer);
    this.flush(true);
  }
}
