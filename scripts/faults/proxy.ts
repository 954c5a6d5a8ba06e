/**
 * The real proxy as a child process (`node bin/run.js proxy --config FILE`), exactly as a user starts it:
 * its complete log, its own /metrics, and its memory and descriptors from /proc.
 */
import { get } from "node:http";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { type MetricSample, parseMetrics, select, sum } from "../../test/e2e/proxy-client.js";
import { start } from "../../test/helpers/processes.js";
import { connectInspector, type Inspector, inspectorUrl } from "./inspector.js";
import { fds, rssKb } from "./proc.js";

export const repoRoot = resolve(dirname(fileURLToPath(import.meta.url)), "../..");

export interface LogLine {
  level?: number;
  msg?: string;
  [key: string]: unknown;
}

export interface ProxyProcess {
  url: string;
  port: number;
  pid: number;
  /** Everything the process wrote to stdout and stderr, never truncated. */
  logText(): string;
  /** stdout lines that parse as JSON (pino). */
  logLines(): LogLine[];
  metrics(): Promise<Metrics>;
  rssKb(): number;
  fds(): { total: number; sockets: number };
  /**
   * VmRSS after a full garbage collection (needs `inspect`), so two readings compare live memory rather than
   * two points of V8's collection cycle.
   */
  rssAfterGcKb(): Promise<number>;
  signal(sig: NodeJS.Signals): void;
  exit: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  exited(): boolean;
  /** SIGTERM (SIGKILL after 3 s); resolves once every byte the process wrote has been read. */
  stop(): Promise<void>;
}

export interface LaunchOptions {
  args?: string[];
  /** Start node with the inspector on a free loopback port, for rssAfterGcKb(). */
  inspect?: boolean;
}

/** `configPath` undefined: sshified-compatible mode, configured by `options.args` alone. */
export async function launchProxy(
  configPath: string | undefined,
  options: LaunchOptions = {},
): Promise<ProxyProcess> {
  const node = options.inspect ? ["--inspect=127.0.0.1:0"] : [];
  const started = start(
    process.execPath,
    [
      ...node,
      join(repoRoot, "bin/run.js"),
      "proxy",
      ...(configPath ? ["--config", configPath] : []),
      ...(options.args ?? []),
    ],
    { cwd: repoRoot },
  );
  const child = started.child;
  const chunks: string[] = [];
  child.stdout?.on("data", (d) => chunks.push(String(d)));
  child.stderr?.on("data", (d) => chunks.push(String(d)));
  const exit = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((res) =>
    child.once("exit", (code, signal) => res({ code, signal })),
  );
  // 'close' comes after the last stdout/stderr chunk, so logs read after stop() are complete.
  const closed = new Promise<void>((res) => child.once("close", () => res()));
  const text = () => chunks.join("");
  const lines = (): LogLine[] =>
    text()
      .split("\n")
      .flatMap((l) => {
        if (!l.startsWith("{")) return [];
        try {
          return [JSON.parse(l) as LogLine];
        } catch {
          return [];
        }
      });

  const url = await new Promise<string>((res, rej) => {
    const timer = setTimeout(() => {
      cleanup();
      rej(new Error(`proxy did not log "listening" within 20 s:\n${text().slice(-3000)}`));
    }, 20_000);
    const onData = () => {
      const line = lines().find((l) => l.msg === "listening" && typeof l.url === "string");
      if (line) {
        cleanup();
        res(line.url as string);
      }
    };
    const onExit = (code: number | null) => {
      cleanup();
      rej(new Error(`proxy exited with ${code} before listening:\n${text().slice(-3000)}`));
    };
    const cleanup = () => {
      clearTimeout(timer);
      child.stdout?.off("data", onData);
      child.off("exit", onExit);
    };
    child.stdout?.on("data", onData);
    child.once("exit", onExit);
  });
  const port = Number(new URL(url).port);
  const pid = child.pid as number;
  let done = false;
  let inspector: Inspector | undefined;
  void exit.then(() => {
    done = true;
    inspector?.close();
  });
  return {
    url,
    port,
    pid,
    logText: text,
    logLines: lines,
    metrics: () => fetchMetrics(port),
    rssKb: () => rssKb(pid),
    fds: () => fds(pid),
    async rssAfterGcKb() {
      if (!inspector) {
        const ws = inspectorUrl(text());
        if (!ws) throw new Error("rssAfterGcKb() needs a proxy launched with { inspect: true }");
        inspector = await connectInspector(ws);
      }
      await inspector.collectGarbage();
      await new Promise((r) => setTimeout(r, 200));
      return rssKb(pid);
    },
    signal: (sig) => child.kill(sig),
    exit,
    exited: () => done,
    async stop() {
      await started.stop();
      await closed;
    },
  };
}

/** Prometheus text exposition, parsed just enough to read our own counters and gauges. */
export class Metrics {
  readonly samples: MetricSample[];

  constructor(readonly text: string) {
    this.samples = parseMetrics(text);
  }

  /** Sum over the samples of `name` whose labels include `match`. */
  sum(name: string, match: Record<string, string> = {}): number {
    return sum(this.matching(name, match));
  }

  matching(name: string, match: Record<string, string> = {}): MetricSample[] {
    return select(this.samples, name, match);
  }

  has(name: string): boolean {
    return this.samples.some((s) => s.name === name);
  }
}

export function fetchMetrics(port: number): Promise<Metrics> {
  return new Promise((res, rej) => {
    const req = get({ host: "127.0.0.1", port, path: "/metrics", agent: false, timeout: 5000 }, (r) => {
      const parts: Buffer[] = [];
      r.on("data", (d: Buffer) => parts.push(d));
      r.on("end", () => {
        if (r.statusCode !== 200) rej(new Error(`GET /metrics answered ${r.statusCode}`));
        else res(new Metrics(Buffer.concat(parts).toString()));
      });
      r.on("error", rej);
    });
    req.on("timeout", () => req.destroy(new Error("GET /metrics timed out")));
    req.on("error", rej);
  });
}
