import { readFileSync } from "node:fs";
import { Agent } from "node:http";
import { connect } from "node:net";
import { pino } from "pino";
import {
  type Config,
  inShard,
  joinHostPort,
  type LoadedConfig,
  loadConfig,
  parseDuration,
  queryString,
  splitHostPort,
} from "../config/index.js";
import { mapLimit } from "../map-limit.js";
import { applyOverrides, type RunningProxy, settingsFromConfig, startProxy } from "../proxy/index.js";
import { ProxyPasswordError, ProxyUnreachableError, ProxyUrlError } from "./errors.js";
import { type ProxyEndpoint, scrape } from "./fetch.js";
import { countSamples } from "./samples.js";

export * from "./errors.js";
export { countSamples } from "./samples.js";

export interface CheckOptions {
  file: string;
  /** Proxy to go through; default `http://` + the list's proxy.listen. Ignored with `direct`. */
  proxyUrl?: string;
  /** Start the proxy in-process on an ephemeral loopback port and go through it. */
  direct?: boolean;
  /** With `direct`: the private key to log in with (default: where the list says the proxy finds it). */
  keyFile?: string;
  /** With `direct`: known_hosts file (default: the list's proxy.knownHostsFile; hostKeys are used too). */
  knownHostsFile?: string;
  /** Per exporter; default its scrapeTimeout, else defaults.scrapeTimeout, else 10s (Prometheus' default). */
  timeoutMs?: number;
  concurrency?: number;
  tls?: { ca?: string; insecure?: boolean };
  onProgress?: (done: number, total: number) => void;
}

export interface ExporterCheck {
  /** `host:port` as the proxy sees it (the `target` label of its metrics). */
  target: string;
  host: string;
  port: number;
  job: string;
  scheme: "http" | "https";
  url: string;
  ok: boolean;
  /** HTTP status from the exporter (or from the proxy when it failed); absent when no response came. */
  status?: number;
  latencyMs: number;
  bytes?: number;
  samples?: number;
  /** Why it failed: the proxy's plain-text error body, or the connection problem. */
  error?: string;
  /** The failure's stable code: the proxy's (`HOST_KEY_MISMATCH`, …) or check's own (`TLS_FAILED`, …). */
  code?: string;
}

export interface CheckResult {
  file: string;
  /** The proxy the requests went through (`direct: true` when it was started in-process). */
  proxy: string;
  direct: boolean;
  ok: boolean;
  total: number;
  failed: number;
  exporters: ExporterCheck[];
}

/** Prometheus' default scrape_timeout. */
const DEFAULT_TIMEOUT_MS = 10_000;

/**
 * Scrapes every exporter of the target list through the proxy, or with `direct` through a proxy started
 * in-process just for this run (same SSH code path as production). Never throws for a failing exporter:
 * each comes back with its cause.
 */
export async function check(opts: CheckOptions): Promise<CheckResult> {
  const loaded = loadConfig(opts.file);
  let running: RunningProxy | undefined;
  let endpoint: ProxyEndpoint;
  if (opts.direct) {
    running = await startDirect(loaded, opts);
    endpoint = { host: "127.0.0.1", port: running.port };
  } else {
    endpoint = proxyEndpoint(loaded, opts.proxyUrl);
    await assertReachable(endpoint, opts.proxyUrl ? "--proxy" : `${loaded.file}: proxy.listen`);
  }
  const jobs = planChecks(loaded.config, opts.timeoutMs);
  const concurrency = opts.concurrency ?? 16;
  const agent = new Agent({ keepAlive: true, maxSockets: concurrency });
  let done = 0;
  try {
    const exporters = await mapLimit(jobs, concurrency, async (job) => {
      const outcome = await scrape(endpoint, agent, { ...job.request, tls: opts.tls });
      opts.onProgress?.(++done, jobs.length);
      const base = { ...job.info, latencyMs: outcome.latencyMs };
      if (!outcome.ok)
        return { ...base, ok: false, status: outcome.status, code: outcome.code, error: outcome.cause };
      return {
        ...base,
        ok: true,
        status: outcome.status,
        bytes: outcome.body.length,
        samples: countSamples(outcome.body.toString("utf8")),
      };
    });
    const failed = exporters.filter((e) => !e.ok).length;
    return {
      file: loaded.file,
      proxy: `http://${joinHostPort(endpoint.host, endpoint.port)}`,
      direct: Boolean(opts.direct),
      ok: failed === 0,
      total: exporters.length,
      failed,
      exporters,
    };
  } finally {
    agent.destroy();
    await running?.close(0);
  }
}

function planChecks(config: Config, timeoutMs: number | undefined) {
  // A sharded list's proxy serves only its own shard (shards.index): the others belong to other proxies.
  const targets = config.targets.filter((t) => inShard(t.host, config.shards));
  return targets.flatMap((t) =>
    t.exporters.map((e) => {
      const target = joinHostPort(t.host, e.port);
      // As Prometheus builds the scrape URL: the path, then the job's params.
      const path = `${e.metricsPath}${queryString(e.params)}`;
      const timeout =
        timeoutMs ??
        parseDuration(e.scrapeTimeout ?? config.defaults.scrapeTimeout ?? `${DEFAULT_TIMEOUT_MS}ms`);
      return {
        info: {
          target,
          host: t.host,
          port: e.port,
          job: e.name,
          scheme: e.scheme,
          url: `${e.scheme}://${target}${path}`,
        },
        request: { host: t.host, port: e.port, scheme: e.scheme, path, timeoutMs: timeout },
      };
    }),
  );
}

/** `--proxy URL`, else the list's proxy.listen (a wildcard listen address is reached on loopback). */
function proxyEndpoint(loaded: LoadedConfig, url: string | undefined): ProxyEndpoint {
  let host: string;
  let port: number;
  if (url) {
    let u: URL;
    try {
      u = new URL(url);
    } catch {
      throw new ProxyUrlError(
        `--proxy: not a URL: ${JSON.stringify(url)} (expected e.g. http://127.0.0.1:8888)`,
      );
    }
    if (u.protocol !== "http:" || (u.pathname !== "/" && u.pathname !== ""))
      throw new ProxyUrlError(`--proxy: expected http://HOST:PORT, got ${JSON.stringify(url)}`);
    host = u.hostname.replace(/^\[(.*)\]$/, "$1");
    port = u.port ? Number(u.port) : 80;
    if (u.username) {
      // http://user:password@host:port, as Prometheus' proxy_url accepts it.
      const user = decodeURIComponent(u.username);
      const password = decodeURIComponent(u.password);
      return { host, port, authorization: `Basic ${Buffer.from(`${user}:${password}`).toString("base64")}` };
    }
  } else {
    const hp = splitHostPort(loaded.config.proxy.listen);
    if (!hp) throw new ProxyUrlError(`${loaded.file}: proxy.listen: expected HOST:PORT`);
    host = hp.host === "0.0.0.0" ? "127.0.0.1" : hp.host === "::" ? "::1" : hp.host;
    port = hp.port;
  }
  return { host, port, authorization: authorization(loaded) };
}

/** Basic credentials (RFC 7617) from proxy.auth, for a proxy that requires them. */
function authorization(loaded: LoadedConfig): string | undefined {
  const auth = loaded.config.proxy.auth;
  if (!auth) return undefined;
  let password: string;
  try {
    password = readFileSync(auth.passwordFile, "utf8").replace(/\r?\n$/, "");
  } catch (err) {
    throw new ProxyPasswordError(
      `${loaded.file}: proxy.auth.passwordFile: cannot read ${auth.passwordFile} (${(err as NodeJS.ErrnoException).code ?? err}); run check where the proxy's password is readable, or use --direct`,
    );
  }
  return `Basic ${Buffer.from(`${auth.username}:${password}`).toString("base64")}`;
}

/** The real proxy, private to this run: ephemeral loopback port, no proxy auth, no signal handlers. */
async function startDirect(loaded: LoadedConfig, opts: CheckOptions): Promise<RunningProxy> {
  const runtime = applyOverrides(settingsFromConfig(loaded), {
    keyFile: opts.keyFile,
    knownHostsFile: opts.knownHostsFile,
  });
  return startProxy(
    {
      ...runtime,
      listen: { host: "127.0.0.1", port: 0 },
      metricsListen: undefined,
      auth: undefined,
      // Each exporter's own attempt, so every failure reports its cause: a preconnect that failed, or the
      // previous exporter of the same host, would otherwise leave only "failed recently" (SSH_BACKOFF).
      preconnect: false,
      timeouts: { ...runtime.timeouts, backoff: 0 },
    },
    { logger: pino({ level: "silent" }), installSignalHandlers: false },
  );
}

/** One clear error instead of the same "connection refused" for every exporter. */
function assertReachable(proxy: ProxyEndpoint, from: string): Promise<void> {
  return new Promise((resolve, reject) => {
    const where = joinHostPort(proxy.host, proxy.port);
    const sock = connect({ host: proxy.host, port: proxy.port });
    const timer = setTimeout(() => fail("no answer within 5 s"), 5000);
    const fail = (why: string) => {
      clearTimeout(timer);
      sock.destroy();
      reject(
        new ProxyUnreachableError(
          `cannot reach the proxy at ${where} (${from}): ${why}; start it with \`sshscrape proxy --config FILE\`, point --proxy at it, or pass --direct`,
        ),
      );
    };
    sock.once("connect", () => {
      clearTimeout(timer);
      sock.destroy();
      resolve();
    });
    sock.once("error", (err: NodeJS.ErrnoException) =>
      fail(err.code === "ECONNREFUSED" ? "connection refused" : (err.code ?? err.message)),
    );
  });
}
