/**
 * Review probes for src/proxy/metrics-text.ts against prom-client's own `registry.metrics()` on the same
 * registry: async collect callbacks, a collect that sets a metric registered after it, metrics and series
 * added after a render.
 */
import { Counter, Gauge, Histogram, Registry, type RegistryContentType } from "prom-client";
import { describe, expect, it } from "vitest";
import { renderMetrics } from "../../src/proxy/metrics-text.js";

async function rendered(registry: Registry<RegistryContentType>): Promise<string> {
  const { buffers, bytes } = await renderMetrics(registry);
  const page = Buffer.concat(buffers);
  expect(page.length).toBe(bytes);
  return page.toString("utf8");
}

describe("renderMetrics against prom-client", () => {
  it("async collect callbacks and a collect that sets metrics registered after it", async () => {
    const registry = new Registry();
    let n = 0;
    const later = new Gauge({ name: "set_by_other", help: "x", labelNames: ["k"], registers: [] });
    new Gauge({
      name: "async_collected",
      help: "awaits a timer",
      labelNames: ["k"] as const,
      registers: [registry],
      async collect() {
        await new Promise((r) => setTimeout(r, 1));
        n++;
        this.set({ k: "a" }, n);
        later.set({ k: String(n % 2) }, n);
      },
    });
    registry.registerMetric(later);
    const ours = await rendered(registry);
    const theirs = await registry.metrics();
    // Both ran the collect once each: compare shapes with the counter's value normalised.
    expect(ours.replace(/ \d+$/gm, " N")).toBe(theirs.replace(/ \d+$/gm, " N"));
  });

  it("metrics registered and series added after a render are on the next page", async () => {
    const registry = new Registry();
    const c = new Counter({ name: "c_total", help: "x", labelNames: ["t"], registers: [registry] });
    expect(await rendered(registry)).toBe(await registry.metrics());
    c.inc({ t: 'a\\b"c\nd' });
    new Histogram({ name: "late", help: "late", buckets: [1e-3, 0.5, 1e21], registers: [registry] }).observe(
      0.25,
    );
    expect(await rendered(registry)).toBe(await registry.metrics());
  });
});
