/**
 * A running `sshscrape proxy`'s own origin-form /metrics page, parsed into samples. Requests through the
 * proxy go through `viaProxy` (test/helpers/proxy.ts).
 */
export interface MetricSample {
  name: string;
  labels: Record<string, string>;
  value: number;
}

/** Parses Prometheus text exposition format (enough of it for prom-client's output). */
export function parseMetrics(text: string): MetricSample[] {
  const samples: MetricSample[] = [];
  for (const line of text.split("\n")) {
    if (line === "" || line.startsWith("#")) continue;
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})?\s+(\S+)/.exec(line);
    if (!m) throw new Error(`unparseable metrics line: ${line}`);
    const labels: Record<string, string> = {};
    for (const l of (m[2] ?? "").matchAll(/([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g)) {
      labels[l[1] as string] = (l[2] as string).replace(/\\(.)/g, (_, c: string) => (c === "n" ? "\n" : c));
    }
    samples.push({ name: m[1] as string, labels, value: Number(m[3]) });
  }
  return samples;
}

export async function proxyMetrics(proxyUrl: string): Promise<MetricSample[]> {
  const res = await fetch(new URL("/metrics", proxyUrl));
  if (!res.ok) throw new Error(`GET ${proxyUrl}/metrics: HTTP ${res.status}`);
  return parseMetrics(await res.text());
}

/** Samples named `name` whose labels include every pair in `match`. */
export function select(
  samples: MetricSample[],
  name: string,
  match: Record<string, string> = {},
): MetricSample[] {
  return samples.filter((s) => s.name === name && Object.entries(match).every(([k, v]) => s.labels[k] === v));
}

export function sum(samples: MetricSample[]): number {
  return samples.reduce((acc, s) => acc + s.value, 0);
}
