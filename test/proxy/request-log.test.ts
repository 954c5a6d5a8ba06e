/** Refused-request logging: bounded lines per window, a summary when the window ends, full counts in metrics. */
import { describe, expect, it } from "vitest";
import { NotAllowedError, UpstreamError } from "../../src/proxy/errors.js";
import { ProxyMetrics } from "../../src/proxy/metrics.js";
import { LOG_BURST, LOG_WINDOW_MS, RequestLog } from "../../src/proxy/request-log.js";
import { memoryLogger, metricValue } from "../helpers/proxy.js";

describe("RequestLog", () => {
  it("writes LOG_BURST lines per kind per window, then one summary naming how many were left out", async () => {
    const { logger, records } = memoryLogger("info");
    const metrics = new ProxyMetrics();
    let now = 0;
    const log = new RequestLog(metrics, logger, () => now);
    for (let i = 0; i < 100; i++) log.failed("other", 403, new NotAllowedError(`10.0.0.${i}:9100`));
    expect(records.filter((r) => r.msg === "request failed")).toHaveLength(LOG_BURST);
    now += LOG_WINDOW_MS;
    log.failed("other", 403, new NotAllowedError("10.0.0.1:9100"));
    const summary = records.filter((r) => r.suppressed !== undefined);
    expect(summary).toEqual([
      expect.objectContaining({ code: "NOT_ALLOWED", suppressed: 100 - LOG_BURST, seconds: 60 }),
    ]);
    // The new window logs again.
    expect(records.filter((r) => r.msg === "request failed")).toHaveLength(LOG_BURST + 1);
    const text = await metrics.registry.metrics();
    expect(metricValue(text, "sshscrape_errors_total", { type: "NOT_ALLOWED" })).toBe(101);
    expect(metricValue(text, "sshscrape_log_lines_suppressed_total", { type: "NOT_ALLOWED" })).toBe(
      100 - LOG_BURST,
    );
    log.close();
  });

  it("limits upstream failures per target, so one dead exporter does not hide another", () => {
    const { logger, records } = memoryLogger("info");
    const log = new RequestLog(new ProxyMetrics(), logger, () => 0);
    for (let i = 0; i < 20; i++) {
      log.failed("a:9100", 502, new UpstreamError("a:9100", new Error("reset")));
      log.failed("b:9100", 502, new UpstreamError("b:9100", new Error("reset")));
    }
    const lines = records.filter((r) => r.msg === "request failed");
    expect(lines.filter((r) => r.target === "a:9100")).toHaveLength(LOG_BURST);
    expect(lines.filter((r) => r.target === "b:9100")).toHaveLength(LOG_BURST);
    log.close();
    expect(records.filter((r) => r.suppressed !== undefined)).toHaveLength(2);
  });
});
