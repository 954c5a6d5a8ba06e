/**
 * Debian's real Prometheus, run as a plain process on loopback with its TSDB in a temp dir, plus a small
 * client for its HTTP API (https://prometheus.io/docs/prometheus/2.42/querying/api/).
 */
import { execFileSync } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { stringify } from "yaml";
import { portFromLog, type Started, start, waitFor } from "./processes.js";

export const PROMETHEUS_BINARY = "/usr/bin/prometheus";
export const PROMTOOL_BINARY = "/usr/bin/promtool";

export interface Sample {
  metric: Record<string, string>;
  value: number;
  /** Unix time in seconds of the sample. */
  time: number;
}

export interface Series {
  metric: Record<string, string>;
  values: Array<{ time: number; value: number }>;
}

export interface ActiveTarget {
  scrapePool: string;
  scrapeUrl: string;
  labels: Record<string, string>;
  health: "up" | "down" | "unknown";
  lastError: string;
  lastScrapeDuration: number;
}

export interface Prometheus {
  url: string;
  port: number;
  dir: string;
  configPath: string;
  /** Instant query; returns the vector (scalars come back as one sample with no labels). */
  query(expr: string, time?: number): Promise<Sample[]>;
  /** Instant query of a range selector such as `up[2m]`: every raw sample of every series. */
  queryMatrix(expr: string, time?: number): Promise<Series[]>;
  targets(): Promise<ActiveTarget[]>;
  pid(): number | undefined;
  output(): string;
  /** Stops Prometheus and deletes its temp dir. */
  stop(): Promise<void>;
}

export interface PrometheusOptions {
  /** prometheus.yml as text or as an object (written as YAML). */
  config: string | Record<string, unknown>;
  port?: number;
  /** Extra command-line flags. */
  args?: string[];
  readyTimeoutMs?: number;
}

export function configText(config: string | Record<string, unknown>): string {
  return typeof config === "string" ? config : stringify(config);
}

/** Runs `promtool check config`; throws with promtool's own message when it rejects the file. */
export function checkConfig(path: string): string {
  try {
    return execFileSync(PROMTOOL_BINARY, ["check", "config", path], { stdio: "pipe" }).toString();
  } catch (err) {
    const e = err as { stdout?: Buffer; stderr?: Buffer };
    throw new Error(`promtool check config ${path} failed:\n${e.stdout ?? ""}${e.stderr ?? ""}`);
  }
}

export async function startPrometheus(options: PrometheusOptions): Promise<Prometheus> {
  const dir = mkdtempSync(join(tmpdir(), "sshscrape-prometheus-"));
  const configPath = join(dir, "prometheus.yml");
  writeFileSync(configPath, configText(options.config));
  // Port 0 unless asked: Prometheus logs the address it bound (`msg="Listening on" address=…`).
  const proc: Started = start(PROMETHEUS_BINARY, [
    `--config.file=${configPath}`,
    `--storage.tsdb.path=${join(dir, "data")}`,
    `--web.listen-address=127.0.0.1:${options.port ?? 0}`,
    "--log.level=info",
    ...(options.args ?? []),
  ]);
  let port = options.port ?? 0;
  let url = "";
  const stop = async () => {
    await proc.stop();
    rmSync(dir, { recursive: true, force: true });
  };
  try {
    port = await portFromLog(
      proc,
      /msg="Listening on" address=\S+:(\d+)/,
      "prometheus",
      options.readyTimeoutMs ?? 20_000,
    );
    url = `http://127.0.0.1:${port}`;
    await waitFor(
      `prometheus ready on ${url}`,
      async () => {
        // An exited process will never become ready: stop polling and report its output below.
        if (proc.child.exitCode !== null || proc.child.signalCode !== null) return true;
        return (await fetch(`${url}/-/ready`)).ok;
      },
      options.readyTimeoutMs ?? 20_000,
    );
    if (proc.child.exitCode !== null || proc.child.signalCode !== null)
      throw new Error(`exited (${proc.child.exitCode ?? proc.child.signalCode})`);
  } catch (err) {
    const output = proc.output();
    await stop();
    throw new Error(`prometheus did not become ready (${(err as Error).message}):\n${output}`);
  }

  async function api<T>(path: string, params: Record<string, string>): Promise<T> {
    const res = await fetch(`${url}${path}?${new URLSearchParams(params)}`);
    const body = (await res.json()) as { status: string; data: T; error?: string; errorType?: string };
    if (body.status !== "success") {
      throw new Error(`prometheus ${path} ${JSON.stringify(params)}: ${body.errorType}: ${body.error}`);
    }
    return body.data;
  }

  const timeParam = (time?: number): Record<string, string> =>
    time === undefined ? {} : { time: `${time}` };

  return {
    url,
    port,
    dir,
    configPath,
    async query(expr, time) {
      const data = await api<{ resultType: string; result: unknown }>("/api/v1/query", {
        query: expr,
        ...timeParam(time),
      });
      if (data.resultType === "scalar") {
        const [t, v] = data.result as [number, string];
        return [{ metric: {}, time: t, value: Number(v) }];
      }
      if (data.resultType !== "vector") throw new Error(`${expr}: expected a vector, got ${data.resultType}`);
      return (data.result as Array<{ metric: Record<string, string>; value: [number, string] }>).map((r) => ({
        metric: r.metric,
        time: r.value[0],
        value: Number(r.value[1]),
      }));
    },
    async queryMatrix(expr, time) {
      const data = await api<{ resultType: string; result: unknown }>("/api/v1/query", {
        query: expr,
        ...timeParam(time),
      });
      if (data.resultType !== "matrix") throw new Error(`${expr}: expected a matrix, got ${data.resultType}`);
      return (data.result as Array<{ metric: Record<string, string>; values: Array<[number, string]> }>).map(
        (r) => ({ metric: r.metric, values: r.values.map(([t, v]) => ({ time: t, value: Number(v) })) }),
      );
    },
    async targets() {
      const data = await api<{ activeTargets: ActiveTarget[] }>("/api/v1/targets", { state: "active" });
      return data.activeTargets;
    },
    pid: () => proc.child.pid,
    output: () => proc.output(),
    stop,
  };
}
