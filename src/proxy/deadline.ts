import { TimeoutError } from "./errors.js";
import type { Phase } from "./proxy-error.js";

/** Header Prometheus sends with every scrape (prometheus/scrape/scrape.go). */
export const SCRAPE_TIMEOUT_HEADER = "x-prometheus-scrape-timeout-seconds";

/** The shortest budget a request gets, so a tiny scrape timeout minus the margin still leaves room to fail cleanly. */
const MIN_BUDGET_MS = 50;

/**
 * The point in time a request must be answered by: min(scrape timeout − margin, proxy.timeout). Answering
 * after Prometheus gave up is wasted work, and answering 504 just before lets Prometheus record why.
 */
export class Deadline {
  readonly at: number;
  readonly budgetMs: number;

  constructor(budgetMs: number, now = Date.now()) {
    this.budgetMs = Math.max(MIN_BUDGET_MS, Math.floor(budgetMs));
    this.at = now + this.budgetMs;
  }

  /** From the scrape-timeout header (seconds, may be fractional; ignored when absent or not a number). */
  static forRequest(header: string | string[] | undefined, marginMs: number, maxMs: number): Deadline {
    const value = Array.isArray(header) ? header[0] : header;
    const seconds = value === undefined ? Number.NaN : Number(value.trim());
    if (!Number.isFinite(seconds) || seconds <= 0) return new Deadline(maxMs);
    return new Deadline(Math.min(seconds * 1000 - marginMs, maxMs));
  }

  remaining(now = Date.now()): number {
    return Math.max(0, this.at - now);
  }

  /** Budget for one phase: its own bound, cut to what is left of the request's. */
  phaseBudget(phaseMaxMs: number): number {
    return Math.min(phaseMaxMs, this.remaining());
  }
}

/**
 * Rejects with a TimeoutError naming `phase` when `promise` does not settle within `ms`; `onTimeout` runs
 * first so the caller can tear down what it started. The timer is cleared on every path.
 */
export function withTimeout<T>(
  promise: Promise<T>,
  ms: number,
  phase: Phase | (() => Phase),
  what: string | (() => string),
  onTimeout?: () => void,
): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const timer = setTimeout(() => {
      onTimeout?.();
      const p = typeof phase === "function" ? phase() : phase;
      reject(new TimeoutError(p, typeof what === "function" ? what() : what, ms));
    }, ms);
    promise.then(
      (v) => {
        clearTimeout(timer);
        resolve(v);
      },
      (e) => {
        clearTimeout(timer);
        reject(e);
      },
    );
  });
}

/** Rejects as soon as `signal` aborts (the client went away), with the signal's reason. */
export function abortable<T>(promise: Promise<T>, signal: AbortSignal | undefined): Promise<T> {
  if (!signal) return promise;
  if (signal.aborted) return Promise.reject(signal.reason);
  return new Promise<T>((resolve, reject) => {
    const onAbort = () => reject(signal.reason);
    signal.addEventListener("abort", onAbort, { once: true });
    promise.then(
      (v) => {
        signal.removeEventListener("abort", onAbort);
        resolve(v);
      },
      (e) => {
        signal.removeEventListener("abort", onAbort);
        reject(e);
      },
    );
  });
}

/**
 * One entry of a DeadlineTimers set: fires `onExpire` at `at` (Date.now() time) unless removed first. The two
 * links are the set's own (an intrusive list: adding and removing allocate nothing); leave them alone.
 */
export interface Expiring {
  at: number;
  onExpire(): void;
  deadlinePrev?: Expiring | undefined;
  deadlineNext?: Expiring | undefined;
}

/**
 * Many deadlines on one Timeout, armed for the earliest. Every exchange used to create and clear its own
 * Timeout; each budget (`deadline.remaining()`) is a different duration, so Node also created and dropped a
 * timer list and a priority-queue entry per request. Here adding and removing is a list operation; the
 * Timeout is re-armed only when an earlier deadline comes in (rare: budgets are the same for most requests)
 * and when it fires. Expiry is as exact as a Timeout of its own would be.
 *
 * When the last deadline is removed the Timeout stays armed, unref'd (it holds nothing up), and fires once
 * for nothing: one request at a time would otherwise create and clear a Timeout per request, as would a Set
 * of entries, which rehashes as entries come and go (docs/benchmarks.md, "Garbage per scrape").
 */
export class DeadlineTimers {
  private head: Expiring | undefined;
  private count = 0;
  private timer: NodeJS.Timeout | undefined;
  private armedAt = Number.POSITIVE_INFINITY;

  add(e: Expiring): void {
    if (this.has(e)) return;
    e.deadlinePrev = undefined;
    e.deadlineNext = this.head;
    if (this.head !== undefined) this.head.deadlinePrev = e;
    this.head = e;
    if (this.count++ === 0) this.timer?.ref();
    if (e.at < this.armedAt) this.arm(e.at);
  }

  remove(e: Expiring): void {
    if (!this.has(e)) return;
    const prev = e.deadlinePrev;
    const next = e.deadlineNext;
    if (prev === undefined) this.head = next;
    else prev.deadlineNext = next;
    if (next !== undefined) next.deadlinePrev = prev;
    e.deadlinePrev = undefined;
    e.deadlineNext = undefined;
    if (--this.count === 0) this.timer?.unref();
  }

  get size(): number {
    return this.count;
  }

  private has(e: Expiring): boolean {
    return e === this.head || e.deadlinePrev !== undefined;
  }

  private arm(at: number): void {
    if (this.timer !== undefined) clearTimeout(this.timer);
    this.armedAt = at;
    this.timer = setTimeout(this.fire, Math.max(0, at - Date.now()));
    if (this.count === 0) this.timer.unref();
  }

  private readonly fire = (): void => {
    this.timer = undefined;
    this.armedAt = Number.POSITIVE_INFINITY;
    if (this.count === 0) return;
    const now = Date.now();
    let next = Number.POSITIVE_INFINITY;
    const due: Expiring[] = [];
    for (let e = this.head; e !== undefined; e = e.deadlineNext) {
      if (e.at <= now) due.push(e);
      else if (e.at < next) next = e.at;
    }
    for (const e of due) this.remove(e);
    if (next !== Number.POSITIVE_INFINITY) this.arm(next);
    for (const e of due) e.onExpire();
  };
}
