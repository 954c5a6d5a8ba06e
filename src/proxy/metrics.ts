/**
 * The proxy's own metrics. Names are a contract (PROXY-API.md; dashboards and other tests use them).
 * Each proxy gets its own Registry so several can run in one process (tests) without clashing.
 *
 * Cardinality is bounded in every mode, because whoever can reach the proxy chooses the targets it is asked
 * for (in sshified mode any port on any known host is allowed, and a `*` known_hosts line allows any host):
 * - `target`: each configured exporter's `host:port`, plus the first MAX_EXTRA_LABELS others that were
 *   allowed (`proxy.allow` patterns, sshified mode); later ones are counted under "overflow", refused
 *   requests under "other";
 * - `host` (SSH endpoints): each configured endpoint, plus the first MAX_EXTRA_LABELS others, then "overflow";
 * - `code`: statuses node:http knows (about 60) and 499; any other status an exporter invents as `5xx` etc.;
 * - `type`: the error classes' fixed codes; `phase`: the fixed phases of proxy-error.ts.
 * So the proxy's series are at most linear in the target list, plus a constant (docs/security.md).
 */
import { type ServerResponse, STATUS_CODES } from "node:http";
import { renderMetrics } from "./metrics-text.js";
import { Counter, collectDefaultMetrics, Gauge, Histogram, Registry } from "./prom-client-lib.js";

/** Label values admitted per label beyond the configured ones. */
export const MAX_EXTRA_LABELS = 64;
/** Where label values beyond MAX_EXTRA_LABELS are counted. */
export const OVERFLOW_LABEL = "overflow";

/** A label's values: the configured ones, then the first `limit` others, then OVERFLOW_LABEL. */
export class BoundedLabel {
  private configured: ReadonlySet<string> = new Set();
  private readonly extra = new Set<string>();

  constructor(private readonly limit = MAX_EXTRA_LABELS) {}

  configure(values: Iterable<string>): void {
    this.configured = new Set(values);
  }

  of(value: string): string {
    if (this.configured.has(value) || this.extra.has(value)) return value;
    if (this.extra.size >= this.limit) return OVERFLOW_LABEL;
    this.extra.add(value);
    return value;
  }
}

/** The status as a label: one of node:http's known codes (or 499, client gone), else its class (`5xx`). */
export function codeLabel(status: number): string {
  if (STATUS_CODES[status] !== undefined || status === 499) return String(status);
  return `${Math.min(Math.max(Math.floor(status / 100), 1), 5)}xx`;
}

export const REQUEST_DURATION_BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30];

/** prom-client 15's own record of one series of a Counter (`hashMap` values), which its `get()` exposes. */
interface CounterEntry {
  value: number;
  labels: { target: string; code: string };
}

/** prom-client 15's record of one series of a Histogram: counts per upper bound (not cumulative), sum, count. */
interface HistogramEntry {
  labels: { target: string };
  bucketValues: Record<number, number>;
  sum: number;
  count: number;
}

/**
 * A prom-client metric's series. Only the values' order matters to prom-client's `get()` (insertion order; our
 * keys are JSON arrays, never integer-like); the keys are ours, unique per label set.
 */
interface HashMapHolder<E> {
  hashMap: Record<string, E>;
}

/** One target label's counts: series per status, and its histogram (bucket counts kept here, copied at collect). */
interface TargetTally {
  /** By status number, so a request needs no label string (only statuses that are their own label). */
  byStatus: Map<number, CounterEntry>;
  /** By code label (the compat `inc({target, code})` path, and to find the entry of a new status's label). */
  byCode: Map<string, CounterEntry>;
  hist: HistogramEntry | undefined;
  counts: number[];
}

/**
 * sshscrape_requests_total and sshscrape_request_duration_seconds, counted in plain fields. prom-client 15
 * validates and hashes the label set on every `inc`/`observe` (~2 % of the proxy's CPU at c=1); here a request
 * costs two Map lookups and a few additions. Each series is still a prom-client entry, created once in the
 * metric's `hashMap` (where prom-client 15 keeps them) and updated in place; the histogram's bucket counts are
 * copied into it when the registry collects. So /metrics shows the same series, in the same order, with the same
 * values as prom-client's `inc`/`observe` would (test/proxy/metrics-tally.test.ts compares the two).
 * The two metrics are private to ProxyMetrics; a `reset()` of them (or `registry.resetMetrics()`) would drop the
 * entries this keeps updating, so nothing calls it (no series is ever removed, as before).
 */
export class RequestTally {
  private readonly byTarget = new Map<string, TargetTally>();
  private readonly counter: HashMapHolder<CounterEntry>;
  private readonly histogram: HashMapHolder<HistogramEntry>;

  constructor(
    counter: Counter<"target" | "code">,
    histogram: Histogram<"target">,
    private readonly bounds: readonly number[],
  ) {
    this.counter = counter as unknown as HashMapHolder<CounterEntry>;
    this.histogram = histogram as unknown as HashMapHolder<HistogramEntry>;
  }

  /** One finished request: its status counted under `target` (an already bounded label) and its duration. */
  record(target: string, status: number, seconds: number): void {
    if (!Number.isFinite(seconds)) throw new TypeError(`Value is not a valid number: ${seconds}`);
    const t = this.tally(target);
    (t.byStatus.get(status) ?? this.statusEntry(t, target, status)).value++;
    const hist = t.hist ?? this.histEntry(t, target);
    hist.sum += seconds;
    hist.count++;
    const bounds = this.bounds;
    for (let i = 0; i < bounds.length; i++) {
      if (seconds <= (bounds[i] as number)) {
        t.counts[i] = (t.counts[i] as number) + 1;
        break;
      }
    }
  }

  /** A request counted without a duration (refused before routing), by code label as prom-client's `inc`. */
  inc(target: string, code: string): void {
    const t = this.tally(target);
    (t.byCode.get(code) ?? this.codeEntry(t, target, code)).value++;
  }

  /** Copies the bucket counts into prom-client's histogram entries (the Histogram's `collect`). */
  collect(): void {
    for (const t of this.byTarget.values()) {
      if (!t.hist) continue;
      const values = t.hist.bucketValues;
      for (let i = 0; i < this.bounds.length; i++) values[this.bounds[i] as number] = t.counts[i] as number;
    }
  }

  private tally(target: string): TargetTally {
    let t = this.byTarget.get(target);
    if (!t) {
      t = { byStatus: new Map(), byCode: new Map(), hist: undefined, counts: this.bounds.map(() => 0) };
      this.byTarget.set(target, t);
    }
    return t;
  }

  private statusEntry(t: TargetTally, target: string, status: number): CounterEntry {
    const code = codeLabel(status);
    const entry = t.byCode.get(code) ?? this.codeEntry(t, target, code);
    // Only statuses with a label of their own are remembered by number (~60 per target label): one an
    // exporter invents (e.g. 599, counted as 5xx) is looked up by its label each time, so a misbehaving
    // exporter cycling through 100-999 cannot grow this map beyond the labels' bound.
    if (code === String(status)) t.byStatus.set(status, entry);
    return entry;
  }

  private codeEntry(t: TargetTally, target: string, code: string): CounterEntry {
    const entry = { value: 0, labels: { target, code } };
    this.counter.hashMap[JSON.stringify([target, code])] = entry;
    t.byCode.set(code, entry);
    return entry;
  }

  private histEntry(t: TargetTally, target: string): HistogramEntry {
    const bucketValues: Record<number, number> = {};
    for (const b of this.bounds) bucketValues[b] = 0;
    const entry = { labels: { target }, bucketValues, sum: 0, count: 0 };
    this.histogram.hashMap[JSON.stringify([target])] = entry;
    t.hist = entry;
    return entry;
  }
}

export class ProxyMetrics {
  readonly registry = new Registry();
  readonly targetLabel = new BoundedLabel();
  readonly hostLabel = new BoundedLabel();
  /** `target` = `host:port` of an allowed target (bounded, see above), or "other" for refused requests. */
  private readonly requestsTotal = new Counter({
    name: "sshscrape_requests_total",
    help: "Proxied requests by target (host:port) and HTTP status code.",
    labelNames: ["target", "code"] as const,
    registers: [this.registry],
  });
  private readonly durationSeconds: Histogram<"target"> = new Histogram({
    name: "sshscrape_request_duration_seconds",
    help: "Time from request to the end of the response, by target.",
    labelNames: ["target"] as const,
    buckets: REQUEST_DURATION_BUCKETS,
    registers: [this.registry],
    collect: () => this.requestTally.collect(),
  });
  /** Both request metrics, counted without prom-client's per-call label checks (see RequestTally). */
  readonly requestTally = new RequestTally(
    this.requestsTotal,
    this.durationSeconds,
    REQUEST_DURATION_BUCKETS,
  );
  /** Requests counted without a duration (refused before a target was routed). */
  readonly requests = {
    inc: (labels: { target: string; code: string }): void =>
      this.requestTally.inc(labels.target, labels.code),
  };
  /** `host` = `user@host:sshport`. */
  private readonly handshakesTotal = new Counter({
    name: "sshscrape_ssh_handshakes_total",
    help: "SSH handshakes (connect + key exchange + login) by host and result (success|failure).",
    labelNames: ["host", "result"] as const,
    registers: [this.registry],
  });
  readonly connections = new Gauge({
    name: "sshscrape_ssh_connections",
    help: "Open SSH connections.",
    registers: [this.registry],
  });
  readonly channels = new Gauge({
    name: "sshscrape_ssh_channels",
    help: "Open direct-tcpip channels.",
    registers: [this.registry],
  });
  private readonly upGauge = new Gauge({
    name: "sshscrape_ssh_up",
    help: "1 while the SSH connection to the host is established, 0 after it failed or closed.",
    labelNames: ["host"] as const,
    registers: [this.registry],
  });
  readonly errors = new Counter({
    name: "sshscrape_errors_total",
    help: "Failed requests by error type (stable error code, e.g. HOST_KEY_MISMATCH).",
    labelNames: ["type"] as const,
    registers: [this.registry],
  });

  readonly logSuppressed = new Counter({
    name: "sshscrape_log_lines_suppressed_total",
    help: "Refused-request log lines not written because of the log rate limit, by error type (sshscrape_errors_total keeps the full count).",
    labelNames: ["type"] as const,
    registers: [this.registry],
  });

  /** Handshake results by SSH endpoint (`host` bounded). */
  readonly handshakes = {
    inc: (labels: { host: string; result: string }): void =>
      this.handshakesTotal.inc({ host: this.hostLabel.of(labels.host), result: labels.result }),
  };

  /** Per-endpoint up gauge; endpoints past the label bound get none (one gauge for many hosts means nothing). */
  readonly up = {
    set: (labels: { host: string }, value: number): void => {
      const host = this.hostLabel.of(labels.host);
      if (host !== OVERFLOW_LABEL) this.upGauge.set({ host }, value);
    },
  };

  /**
   * Why a host has no SSH connection: one series, value 1, labelled with the cause of its latest failed
   * attempt (the `lastError` of /targets); none while connected. Alerts tell hosts apart by `type` here
   * (rules/sshscrape.rules.yml), as a state rather than a counter so a first failure is visible at once.
   */
  readonly sshFailing = new Gauge({
    name: "sshscrape_ssh_failing",
    help: "1 while the host has no SSH connection, labelled with the error code and phase of its latest failed attempt.",
    labelNames: ["host", "type", "phase"] as const,
    registers: [this.registry],
  });
  /** Failed requests by target as well as by cause (`target` as in sshscrape_requests_total). */
  readonly targetErrors = new Counter({
    name: "sshscrape_target_errors_total",
    help: "Failed requests by target (host:port), error type (stable error code) and phase.",
    labelNames: ["target", "type", "phase"] as const,
    registers: [this.registry],
  });
  /** Fleet-wide histogram; per host only the latest value, so the series count stays one per host. */
  readonly handshakeDuration = new Histogram({
    name: "sshscrape_ssh_handshake_duration_seconds",
    help: "Time of successful SSH connection attempts (TCP connect + key exchange + host key check + login).",
    buckets: [0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
    registers: [this.registry],
  });
  readonly handshakeLast = new Gauge({
    name: "sshscrape_ssh_handshake_last_seconds",
    help: "Duration of the host's latest successful SSH connection attempt.",
    labelNames: ["host"] as const,
    registers: [this.registry],
  });
  private isReady: () => boolean = () => true;
  readonly ready: Gauge = new Gauge({
    name: "sshscrape_ready",
    help: "1 when /readyz answers 200 (every configured host tried once, or the proxy gave up waiting), else 0.",
    registers: [this.registry],
    collect: () => this.ready.set(this.isReady() ? 1 : 0),
  });
  private readonly failingLabels = new Map<string, { type: string; phase: string }>();

  constructor() {
    // prom-client's event-loop sampler wakes the process every 10 ms (0.48 % of a core when otherwise idle,
    // 0.25 % at 100 ms), but node's delay histogram records whole intervals, so a coarser sampler would add
    // its period to every nodejs_eventloop_lag_* value (p99 108 ms instead of 14 in bench:scale): kept.
    collectDefaultMetrics({ register: this.registry });
  }

  /** The configured targets (`host:port`) and SSH endpoints: always labelled by name, never "overflow". */
  configure(targets: Iterable<string>, hosts: Iterable<string>): void {
    this.targetLabel.configure(targets);
    this.hostLabel.configure(hosts);
  }

  /** What sshscrape_ready reports (the proxy's Readiness; always ready until set). */
  readinessFrom(isReady: () => boolean): void {
    this.isReady = isReady;
  }

  /**
   * A connection attempt to `host` failed with `code` in `phase`. Like sshscrape_ssh_up, hosts past the label
   * bound get no series: "overflow" failing with one cause says nothing about any host.
   */
  sshFailed(host: string, code: string, phase: string): void {
    const label = this.hostLabel.of(host);
    if (label === OVERFLOW_LABEL) return;
    this.clearFailing(label);
    this.failingLabels.set(label, { type: code, phase });
    this.sshFailing.set({ host: label, type: code, phase }, 1);
  }

  /** A connection attempt to `host` succeeded after `seconds`. */
  sshConnected(host: string, seconds: number): void {
    this.handshakeDuration.observe(seconds);
    const label = this.hostLabel.of(host);
    if (label === OVERFLOW_LABEL) return;
    this.clearFailing(label);
    this.handshakeLast.set({ host: label }, seconds);
  }

  private clearFailing(host: string): void {
    const prev = this.failingLabels.get(host);
    if (!prev) return;
    this.sshFailing.remove({ host, ...prev });
    this.failingLabels.delete(host);
  }
}

/** Answers GET /metrics (on the proxy port and on --metrics.listen-addr alike). */
export function serveMetrics(metrics: ProxyMetrics, res: ServerResponse, head = false): void {
  // One metric at a time into small Buffers, not prom-client's whole-page string (metrics-text.ts).
  renderMetrics(metrics.registry).then(
    ({ buffers, bytes }) => {
      res.writeHead(200, { "content-type": metrics.registry.contentType, "content-length": bytes });
      if (!head) {
        res.cork();
        for (const b of buffers) res.write(b);
        res.uncork();
      }
      res.end();
    },
    (err) => {
      const body = `cannot collect metrics: ${String(err)}\n`;
      res.writeHead(500, {
        "content-type": "text/plain; charset=utf-8",
        "content-length": Buffer.byteLength(body),
      });
      res.end(body);
    },
  );
}
