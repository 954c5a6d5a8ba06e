/**
 * GET /metrics rendered one metric at a time into small Buffers, instead of prom-client's
 * `registry.metrics()` (docs/benchmarks-scale.md, "Peak RSS at 2 000 targets with open channels").
 *
 * prom-client 15 collects every metric at once (`Promise.all`), builds an object per series and per histogram
 * bucket with a fresh label object, one string per line, one string per metric and then the whole page: at
 * 2 000 targets a 2.8 MB page of 38 000 lines cost ~70 ms of CPU and tens of MB of allocations per scrape of
 * the proxy, and since all of it is alive until the page is joined, the young generation (1 MB, bin/run.js)
 * promoted most of it: ~20 MB of old generation per render, and a full GC that caught a render in flight
 * counted it as live and let the heap grow 1.5× from there. Here a line is built, appended to a chunk of at
 * most CHUNK_CHARS characters, and each full chunk becomes a Buffer: what stays alive during a render is the
 * Buffers (outside the V8 heap) and one chunk.
 *
 * The text is prom-client's own, byte for byte (test/proxy/metrics-text.test.ts compares the two): the
 * counters, gauges and histograms are read from prom-client 15's `hashMap` (the series records its `get()`
 * returns, as RequestTally in metrics.ts relies on too) and formatted as its registry formats them; any other
 * metric (summaries, exemplars, a registry with default labels or in OpenMetrics format) is rendered by
 * prom-client itself.
 *
 * One difference, which the proxy's registry never shows: prom-client runs every metric's `collect` before it
 * formats any value, and this renders each metric right after its own `collect`. A `collect` that changes a
 * series of a metric registered before it in place (`inc`, `observe`) shows the change on prom-client's page
 * and on the next page here. The proxy's collects (its own and prom-client's default metrics) set only their
 * own metric or ones registered after it.
 */
import { Counter, Gauge, Histogram, Registry, type RegistryContentType } from "./prom-client-lib.js";

/** Characters per chunk: regular V8 strings (below the large-object size), a few syscalls per page. */
export const CHUNK_CHARS = 32 * 1024;

type Labels = Record<string, string | number | undefined>;

/** prom-client 15's series record of a counter or gauge. */
interface ValueEntry {
  value: number;
  labels?: Labels;
}

/** prom-client 15's series record of a histogram. */
interface HistogramEntry {
  labels: Labels;
  bucketValues: Record<number, number>;
  sum: number;
  count: number;
}

interface Internals {
  hashMap: Record<string, ValueEntry | HistogramEntry>;
  collect?: () => unknown;
  enableExemplars?: boolean;
  help: string;
  name: string;
  type: string;
  upperBounds?: readonly number[];
}

/** Appends text and cuts it into Buffers of about CHUNK_CHARS characters. */
class Chunks {
  readonly buffers: Buffer[] = [];
  bytes = 0;
  private text = "";

  add(s: string): void {
    this.text += s;
    if (this.text.length >= CHUNK_CHARS) this.flush();
  }

  flush(): void {
    if (this.text === "") return;
    const b = Buffer.from(this.text, "utf8");
    this.text = "";
    this.buffers.push(b);
    this.bytes += b.length;
  }
}

// prom-client's registry.js formatting, function for function.
function escapeString(s: string): string {
  return s.replace(/\\/g, "\\\\").replace(/\n/g, "\\n");
}

function escapeLabelValue(v: string | number | undefined): string | number | undefined {
  return typeof v === "string" ? escapeString(v).replace(/"/g, '\\"') : v;
}

function formatLabels(labels: Labels): string[] {
  const out: string[] = [];
  for (const [name, value] of Object.entries(labels)) out.push(`${name}="${escapeLabelValue(value)}"`);
  return out;
}

function valueText(value: number): string {
  if (Number.isNaN(value)) return "Nan";
  if (!Number.isFinite(value)) return value < 0 ? "-Inf" : "+Inf";
  return `${value}`;
}

/** `{a="1",b="2"}`, or "" for no labels. */
function braces(parts: string): string {
  return parts === "" ? "" : `{${parts}}`;
}

/** True when this module formats `metric` exactly as the registry would (a Prometheus-format registry). */
function fast(registry: Registry<RegistryContentType>, metric: unknown): boolean {
  if (Object.keys((registry as unknown as { _defaultLabels: object })._defaultLabels ?? {}).length > 0)
    return false;
  const m = metric as unknown as Internals;
  if (m.enableExemplars || typeof m.hashMap !== "object" || m.hashMap === null) return false;
  if (metric instanceof Histogram) return Array.isArray(m.upperBounds);
  return metric instanceof Counter || metric instanceof Gauge;
}

async function collected(m: Internals): Promise<void> {
  if (!m.collect) return;
  const v = m.collect();
  if (v instanceof Promise) await v;
}

function header(out: Chunks, m: Internals): void {
  const name = escapeString(m.name);
  out.add(`# HELP ${name} ${escapeString(m.help)}\n# TYPE ${name} ${m.type}`);
}

function writeValues(out: Chunks, m: Internals): void {
  const name = escapeString(m.name);
  for (const entry of Object.values(m.hashMap) as ValueEntry[]) {
    const labels = formatLabels(entry.labels ?? {}).join(",");
    out.add(`\n${name}${braces(labels)} ${valueText(entry.value)}`);
  }
}

function writeHistogram(out: Chunks, m: Internals): void {
  const name = escapeString(m.name);
  const bounds = m.upperBounds as readonly number[];
  for (const entry of Object.values(m.hashMap) as HistogramEntry[]) {
    const shared = formatLabels(entry.labels).join(",");
    const tail = shared === "" ? "}" : `,${shared}}`;
    let acc = 0;
    for (const bound of bounds) {
      acc += entry.bucketValues[bound] as number;
      out.add(`\n${name}_bucket{le="${bound}"${tail} ${valueText(acc)}`);
    }
    out.add(`\n${name}_bucket{le="+Inf"${tail} ${valueText(entry.count)}`);
    out.add(`\n${name}_sum${braces(shared)} ${valueText(entry.sum)}`);
    out.add(`\n${name}_count${braces(shared)} ${valueText(entry.count)}`);
  }
}

/** The registry's text exposition (what `registry.metrics()` returns), as Buffers, one metric at a time. */
export async function renderMetrics(
  registry: Registry<RegistryContentType>,
): Promise<{ buffers: Buffer[]; bytes: number }> {
  const out = new Chunks();
  if (registry.contentType !== Registry.PROMETHEUS_CONTENT_TYPE) {
    // OpenMetrics renames counters and ends with "# EOF": prom-client's own path.
    out.add(await registry.metrics());
    out.flush();
    return { buffers: out.buffers, bytes: out.bytes };
  }
  let first = true;
  for (const metric of registry.getMetricsAsArray()) {
    if (!first) out.add("\n\n");
    first = false;
    if (!fast(registry, metric)) {
      out.add(await registry.getSingleMetricAsString((metric as unknown as Internals).name));
      continue;
    }
    const m = metric as unknown as Internals;
    await collected(m);
    header(out, m);
    if (metric instanceof Histogram) writeHistogram(out, m);
    else writeValues(out, m);
  }
  out.add("\n");
  out.flush();
  return { buffers: out.buffers, bytes: out.bytes };
}
