/**
 * sshscrape_requests_total and sshscrape_request_duration_seconds are counted in plain fields (RequestTally)
 * and handed to prom-client's entries; /metrics must show exactly what prom-client's own `inc`/`observe` would.
 * The reference here is a second registry with plain prom-client metrics of the same names, fed the same
 * requests. If prom-client changes where it keeps its series, the tally's output goes missing or stale and
 * these comparisons fail.
 */
import { Counter, Histogram, Registry } from "prom-client";
import { describe, expect, it } from "vitest";
import { UpstreamError } from "../../src/proxy/errors.js";
import {
  codeLabel,
  MAX_EXTRA_LABELS,
  OVERFLOW_LABEL,
  ProxyMetrics,
  REQUEST_DURATION_BUCKETS,
} from "../../src/proxy/metrics.js";
import { RequestLog } from "../../src/proxy/request-log.js";
import { memoryLogger, metricValue } from "../helpers/proxy.js";

const NAMES = ["sshscrape_requests_total", "sshscrape_request_duration_seconds"];

/** The text of the two request metrics (HELP, TYPE and every sample line), as the registry writes it. */
async function requestMetrics(registry: Registry): Promise<string> {
  const text = await registry.metrics();
  return text
    .split("\n\n")
    .filter((block) => NAMES.some((n) => block.startsWith(`# HELP ${n} `)))
    .map((block) => block.trimEnd())
    .join("\n\n");
}

/** The two metrics as prom-client alone would keep them (the definitions metrics.ts had before the tally). */
function reference() {
  const registry = new Registry();
  const requests = new Counter({
    name: "sshscrape_requests_total",
    help: "Proxied requests by target (host:port) and HTTP status code.",
    labelNames: ["target", "code"] as const,
    registers: [registry],
  });
  const duration = new Histogram({
    name: "sshscrape_request_duration_seconds",
    help: "Time from request to the end of the response, by target.",
    labelNames: ["target"] as const,
    buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30],
    registers: [registry],
  });
  return {
    registry,
    record(target: string, status: number, seconds: number) {
      requests.inc({ target, code: codeLabel(status) });
      duration.observe({ target }, seconds);
    },
    inc(target: string, code: string) {
      requests.inc({ target, code });
    },
  };
}

describe("request metrics counted in plain fields", () => {
  it("keep the buckets prom-client had", () => {
    expect(REQUEST_DURATION_BUCKETS).toEqual([0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30]);
  });

  it("expose the same series, order and values as prom-client's inc/observe, across collects", async () => {
    const metrics = new ProxyMetrics();
    const ref = reference();
    // Before any request: HELP and TYPE only, in both.
    expect(await requestMetrics(metrics.registry)).toBe(await requestMetrics(ref.registry));

    const targets = ["10.0.0.1:9100", "web.example:9100", "[::1]:9256", "other"];
    // Statuses: success, client errors, gateway errors, client gone, and invented ones (5xx, 2xx classes).
    const statuses = [200, 404, 502, 504, 499, 599, 598, 200, 207, 290, 403, 200];
    // Durations: on a bound, just over one, past the last bucket (+Inf only), tiny, and sums that round.
    const seconds = [0.005, 0.0050001, 31, 0.0001, 0.1 + 0.2, 1 / 3, 10, 2.5, 0.7, 5e-7, 29.999, 0.05];
    const sequence: Array<[string, number, number]> = [];
    let seed = 12345;
    const pick = <T>(xs: T[]): T => {
      seed = (seed * 1103515245 + 12345) % 2147483648; // a fixed LCG: the same mix every run
      return xs[Math.floor((seed / 2147483648) * xs.length)] as T;
    };
    for (let i = 0; i < 300; i++) sequence.push([pick(targets), pick(statuses), pick(seconds)]);
    for (const [n, [t, s, d]] of sequence.entries()) {
      metrics.requestTally.record(t, s, d);
      ref.record(t, s, d);
      if (n % 9 === 0) {
        // Refused before routing (server.ts counts these with the status as sent, no duration).
        metrics.requests.inc({ target: "other", code: String(400 + (n % 3)) });
        ref.inc("other", String(400 + (n % 3)));
      }
      if (n === 20) expect(await requestMetrics(metrics.registry)).toBe(await requestMetrics(ref.registry));
    }
    // A target that only ever had refusals: a counter series and no histogram series, as with prom-client.
    metrics.requests.inc({ target: "refused.example:1", code: "403" });
    ref.inc("refused.example:1", "403");
    const ours = await requestMetrics(metrics.registry);
    expect(ours).toBe(await requestMetrics(ref.registry));
    expect(ours).toContain('sshscrape_request_duration_seconds_bucket{le="+Inf",target="10.0.0.1:9100"}');
    for (const t of targets) expect(ours).toContain(`sshscrape_requests_total{target="${t}",code="5xx"}`);
    expect(ours).not.toContain('sshscrape_request_duration_seconds_count{target="refused.example:1"}');

    // More requests after a collect still show up at the next one.
    metrics.requestTally.record("10.0.0.1:9100", 200, 0.02);
    ref.record("10.0.0.1:9100", 200, 0.02);
    expect(await requestMetrics(metrics.registry)).toBe(await requestMetrics(ref.registry));
    // The JSON form (getMetricsAsJSON) agrees too.
    const json = async (r: Registry) =>
      (await r.getMetricsAsJSON()).filter((m) => NAMES.includes(m.name)).map((m) => JSON.stringify(m));
    expect(await json(metrics.registry)).toEqual(await json(ref.registry));
  });

  it("every status from 100 to 999: the same series as prom-client, and a bounded map per target", async () => {
    const metrics = new ProxyMetrics();
    const ref = reference();
    for (let round = 0; round < 2; round++)
      for (let status = 100; status <= 999; status++) {
        metrics.requestTally.record("odd.example:9100", status, status / 1e5);
        ref.record("odd.example:9100", status, status / 1e5);
      }
    expect(await requestMetrics(metrics.registry)).toBe(await requestMetrics(ref.registry));
    // Statuses remembered by number: only those that are their own label (node:http's known codes and 499).
    const tally = metrics.requestTally as unknown as {
      byTarget: Map<string, { byStatus: Map<number, unknown> }>;
    };
    const byStatus = tally.byTarget.get("odd.example:9100")?.byStatus;
    expect(byStatus?.size).toBeGreaterThan(50);
    expect(byStatus?.size).toBeLessThan(80);
  });

  it("refuses a duration prom-client would refuse", () => {
    expect(() => new ProxyMetrics().requestTally.record("a:1", 200, Number.NaN)).toThrow(TypeError);
  });

  it("through RequestLog: bounded target labels, errors per target, as before", async () => {
    const { logger } = memoryLogger("info");
    const metrics = new ProxyMetrics();
    metrics.configure(["conf.example:9100"], ["conf.example:22"]);
    const log = new RequestLog(metrics, logger, () => 0);
    const started = performance.now();
    log.record("conf.example:9100", 200, started);
    for (let i = 0; i < MAX_EXTRA_LABELS + 10; i++) log.record(`extra${i}.example:9100`, 200, started);
    log.record(
      "extra3.example:9100",
      502,
      started,
      new UpstreamError("extra3.example:9100", new Error("reset")),
    );
    log.record("late.example:9100", 504, started);
    log.close();
    const text = await metrics.registry.metrics();
    const targets = new Set(
      text
        .split("\n")
        .filter((l) => l.startsWith("sshscrape_requests_total{"))
        .map((l) => /target="([^"]*)"/.exec(l)?.[1]),
    );
    expect(targets.size).toBe(1 + MAX_EXTRA_LABELS + 1);
    expect(metricValue(text, "sshscrape_requests_total", { target: OVERFLOW_LABEL })).toBe(11);
    expect(
      metricValue(text, "sshscrape_requests_total", { target: "extra3.example:9100", code: "502" }),
    ).toBe(1);
    expect(metricValue(text, "sshscrape_request_duration_seconds_count", { target: OVERFLOW_LABEL })).toBe(
      11,
    );
    expect(metricValue(text, "sshscrape_request_duration_seconds_count", {})).toBe(MAX_EXTRA_LABELS + 13);
    expect(
      metricValue(text, "sshscrape_target_errors_total", {
        target: "extra3.example:9100",
        type: "UPSTREAM_FAILED",
      }),
    ).toBe(1);
  });
});
