/**
 * The proxy's own metrics. Names are a contract (PROXY-API.md; dashboards and other tests use them).
 * Each proxy gets its own Registry so several can run in one process (tests) without clashing.
 */
import type { ServerResponse } from "node:http";
import { Counter, collectDefaultMetrics, Gauge, Histogram, Registry } from "prom-client";

export class ProxyMetrics {
  readonly registry = new Registry();
  /** `target` = `host:port` of an allowed target, or "other" so refused requests cannot blow up cardinality. */
  readonly requests = new Counter({
    name: "sshscrape_requests_total",
    help: "Proxied requests by target (host:port) and HTTP status code.",
    labelNames: ["target", "code"] as const,
    registers: [this.registry],
  });
  readonly duration = new Histogram({
    name: "sshscrape_request_duration_seconds",
    help: "Time from request to the end of the response, by target.",
    labelNames: ["target"] as const,
    buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30],
    registers: [this.registry],
  });
  /** `host` = `user@host:sshport`. */
  readonly handshakes = new Counter({
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
  readonly up = new Gauge({
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
    help: "1 when /readyz answers 200 (every configured host tried once, or 60 s passed), else 0.",
    registers: [this.registry],
    collect: () => this.ready.set(this.isReady() ? 1 : 0),
  });
  private readonly failingLabels = new Map<string, { type: string; phase: string }>();

  constructor() {
    collectDefaultMetrics({ register: this.registry });
  }

  /** What sshscrape_ready reports (the proxy's Readiness; always ready until set). */
  readinessFrom(isReady: () => boolean): void {
    this.isReady = isReady;
  }

  /** A connection attempt to `host` failed with `code` in `phase`. */
  sshFailed(host: string, code: string, phase: string): void {
    this.clearFailing(host);
    this.failingLabels.set(host, { type: code, phase });
    this.sshFailing.set({ host, type: code, phase }, 1);
  }

  /** A connection attempt to `host` succeeded after `seconds`. */
  sshConnected(host: string, seconds: number): void {
    this.clearFailing(host);
    this.handshakeDuration.observe(seconds);
    this.handshakeLast.set({ host }, seconds);
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
  metrics.registry.metrics().then(
    (text) => {
      res.writeHead(200, {
        "content-type": metrics.registry.contentType,
        "content-length": Buffer.byteLength(text),
      });
      res.end(head ? undefined : text);
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
