/**
 * GET /metrics is rendered by src/proxy/metrics-text.ts, one metric at a time into small Buffers, instead of
 * prom-client's `registry.metrics()`; the page must be prom-client's own, byte for byte. The reference is
 * prom-client itself, on the same registry: every kind of metric and value it formats (labels needing escapes,
 * NaN and infinities, removed series, collect callbacks, histograms with and without labels), the metrics this
 * module leaves to prom-client (summaries, default labels, OpenMetrics with its exemplars), the proxy's own registry,
 * and a page of many chunks served over real HTTP (GET and HEAD, Content-Length).
 */
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { Counter, Gauge, Histogram, Registry, type RegistryContentType, Summary } from "prom-client";
import { afterEach, describe, expect, it } from "vitest";
import { ProxyMetrics, serveMetrics } from "../../src/proxy/metrics.js";
import { CHUNK_CHARS, renderMetrics } from "../../src/proxy/metrics-text.js";

async function rendered(registry: Registry<RegistryContentType>): Promise<string> {
  const { buffers, bytes } = await renderMetrics(registry);
  const page = Buffer.concat(buffers);
  expect(page.length).toBe(bytes);
  return page.toString("utf8");
}

/** Counters, gauges and histograms with everything prom-client's text format has to escape or spell out. */
function varied(registry: Registry): void {
  new Counter({ name: "plain_total", help: "no labels", registers: [registry] }).inc(3);
  const c = new Counter({
    name: "labelled_total",
    help: 'help with \\ backslash and\nnewline and "quotes"',
    labelNames: ["a", "b"] as const,
    registers: [registry],
  });
  c.inc({ a: 'x"y', b: "back\\slash" }, 1.5);
  c.inc({ a: "new\nline", b: "ünï ☃" });
  c.inc({ b: "only b" });
  new Counter({
    name: "never_total",
    help: "labelled, never counted",
    labelNames: ["x"],
    registers: [registry],
  });
  const g = new Gauge({ name: "g", help: "gauge", labelNames: ["k"] as const, registers: [registry] });
  g.set({ k: "nan" }, Number.NaN);
  g.set({ k: "inf" }, Number.POSITIVE_INFINITY);
  g.set({ k: "-inf" }, Number.NEGATIVE_INFINITY);
  g.set({ k: "neg" }, -0.25);
  g.set({ k: "big" }, 1e21);
  g.set({ k: "small" }, 1e-7);
  g.set({ k: "gone" }, 7);
  g.remove({ k: "gone" });
  let n = 0;
  const collected = new Gauge({
    name: "collected",
    help: "set by its collect",
    registers: [registry],
    collect() {
      this.set(++n);
    },
  });
  void collected;
  const h = new Histogram({
    name: "h_seconds",
    help: "histogram",
    labelNames: ["target"] as const,
    buckets: [0.005, 0.1, 1, 2.5],
    registers: [registry],
  });
  for (const v of [0.001, 0.005, 0.05, 0.5, 3, 100]) h.observe({ target: "t:1" }, v);
  h.observe({ target: 'q"uote' }, 0.2);
  const plain = new Histogram({ name: "h_plain", help: "no labels", registers: [registry] });
  plain.observe(0.3);
  new Histogram({
    name: "h_empty",
    help: "labelled, never observed",
    labelNames: ["x"],
    registers: [registry],
  });
}

describe("renderMetrics: prom-client's text, byte for byte", () => {
  it("counters, gauges and histograms with escapes, special values, removed series and collect callbacks", async () => {
    const a = new Registry();
    const b = new Registry();
    varied(a);
    varied(b);
    // Two registries built alike: one rendered by prom-client, the other here (collect counts renders).
    expect(await rendered(a)).toBe(await b.metrics());
    expect(await rendered(a)).toBe(await b.metrics());
  });

  it("an empty registry", async () => {
    const r = new Registry();
    expect(await rendered(r)).toBe(await r.metrics());
  });

  it("leaves summaries to prom-client, in the registry's order", async () => {
    const build = () => {
      const r = new Registry();
      new Counter({ name: "before_total", help: "x", registers: [r] }).inc();
      const s = new Summary({ name: "s", help: "summary", percentiles: [0.5, 0.9], registers: [r] });
      for (const v of [1, 2, 3, 4]) s.observe(v);
      new Gauge({ name: "after", help: "y", registers: [r] }).set(5);
      return r;
    };
    expect(await rendered(build())).toBe(await build().metrics());
  });

  it("default labels and OpenMetrics: prom-client's path", async () => {
    const build = (open: boolean) => {
      const r = new Registry<RegistryContentType>();
      if (open) r.setContentType(Registry.OPENMETRICS_CONTENT_TYPE);
      else r.setDefaultLabels({ proxy: "p1" });
      varied(r as Registry);
      return r;
    };
    for (const open of [false, true]) expect(await rendered(build(open))).toBe(await build(open).metrics());
  });

  it("the proxy's own metrics (request tally, per-host series), default process metrics aside", async () => {
    const m = new ProxyMetrics();
    m.configure(["a:9100", "b:9100"], ["u@a:22", "u@b:22"]);
    m.requestTally.record("a:9100", 200, 0.004);
    m.requestTally.record("a:9100", 200, 0.3);
    m.requestTally.record("b:9100", 502, 12);
    m.requests.inc({ target: "other", code: "403" });
    m.handshakes.inc({ host: "u@a:22", result: "success" });
    m.up.set({ host: "u@a:22" }, 1);
    m.sshConnected("u@a:22", 0.05);
    m.sshFailed("u@b:22", "SSH_AUTH", "ssh-auth");
    const ours = (text: string) =>
      text
        .split("\n\n")
        .filter((block) => block.startsWith("# HELP sshscrape_"))
        .join("\n\n");
    const page = ours(await rendered(m.registry));
    expect(page).toContain('sshscrape_request_duration_seconds_bucket{le="0.005",target="a:9100"} 1');
    expect(page).toBe(ours(await m.registry.metrics()));
  });
});

describe("GET /metrics over HTTP", () => {
  let server: Server | undefined;
  afterEach(async () => {
    await new Promise((r) => server?.close(r));
    server = undefined;
  });

  it("a page of many chunks: the same bytes and Content-Length as prom-client's page; HEAD has no body", async () => {
    const m = new ProxyMetrics();
    const targets = Array.from({ length: 400 }, (_, i) => `hôst-${i}.example:9100`);
    m.configure(targets, []);
    for (const [i, t] of targets.entries()) m.requestTally.record(t, 200, i / 1000);
    server = createServer((req, res) => serveMetrics(m, res, req.method === "HEAD"));
    await new Promise<void>((r) => server?.listen(0, "127.0.0.1", r));
    const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/metrics`;

    const res = await fetch(url);
    const body = Buffer.from(await res.arrayBuffer());
    expect(res.status).toBe(200);
    expect(res.headers.get("content-type")).toBe(m.registry.contentType);
    expect(Number(res.headers.get("content-length"))).toBe(body.length);
    expect(body.length).toBeGreaterThan(4 * CHUNK_CHARS);
    const text = body.toString("utf8");
    const histogram = (page: string) =>
      page.split("\n\n").find((b) => b.startsWith("# HELP sshscrape_request_duration_seconds "));
    expect(histogram(text)).toBe(histogram(await m.registry.metrics()));
    expect(histogram(text)).toContain('le="+Inf",target="hôst-399.example:9100"} 1');

    const head = await fetch(url, { method: "HEAD" });
    expect(head.status).toBe(200);
    expect(Number(head.headers.get("content-length"))).toBeGreaterThan(4 * CHUNK_CHARS);
    expect((await head.arrayBuffer()).byteLength).toBe(0);
  });
});
