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

  constructor() {
    collectDefaultMetrics({ register: this.registry });
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
