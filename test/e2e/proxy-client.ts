/**
 * Talking to a running `sshscrape proxy` the way Prometheus does: absolute-form requests to the proxy
 * (RFC 9112 §3.2.2), and its own origin-form /metrics page parsed into samples.
 */
import { request } from "node:http";

export interface ProxyResponse {
  status: number;
  body: string;
}

/** `GET http://HOST:PORT/PATH` sent to the proxy at `proxyUrl`, as an HTTP forward proxy receives it. */
export function getThroughProxy(proxyUrl: string, targetUrl: string): Promise<ProxyResponse> {
  const proxy = new URL(proxyUrl);
  const target = new URL(targetUrl);
  return new Promise((resolve, reject) => {
    const req = request(
      {
        host: proxy.hostname,
        port: proxy.port,
        method: "GET",
        path: targetUrl,
        headers: { host: target.host },
        agent: false,
      },
      (res) => {
        let body = "";
        res.setEncoding("utf8");
        res.on("data", (d) => {
          body += d;
        });
        res.on("end", () => resolve({ status: res.statusCode ?? 0, body }));
        res.on("error", reject);
      },
    );
    req.setTimeout(15_000, () => req.destroy(new Error(`no answer from the proxy for ${targetUrl}`)));
    req.on("error", reject);
    req.end();
  });
}

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
