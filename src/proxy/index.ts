/**
 * `startProxy`: wires settings, keys, known_hosts, the allowlist, the SSH pool and the HTTP server together,
 * and owns the lifecycle (SIGHUP reload without dropping requests; SIGTERM graceful stop).
 */
import { existsSync, readFileSync } from "node:fs";
import { createServer, type Server } from "node:http";
import { type Logger, pino } from "pino";
import { joinHostPort } from "../config/host.js";
import { serveAdmin } from "./admin.js";
import { Allowlist } from "./allowlist.js";
import { describeCause, ListenError, ProxySettingsError } from "./errors.js";
import { fitHeap } from "./heap-growth.js";
import { KeyStore } from "./keys.js";
import { KnownHosts } from "./known-hosts.js";
import { ProxyMetrics } from "./metrics.js";
import { SshPool } from "./pool.js";
import { Readiness } from "./readiness.js";
import { createProxyServer } from "./server.js";
import {
  endpointName,
  type HostPort,
  isLoopback,
  keyFiles,
  type ProxyRuntime,
  routeFor,
  type SshEndpoint,
} from "./settings.js";
import { kexCryptoApplied } from "./ssh2-lib.js";
import { tierUpSooner } from "./tiering.js";

export type { ProxyRuntime } from "./settings.js";
export { applyOverrides, settingsFromConfig, settingsFromFlags } from "./settings.js";

export interface RunningProxy {
  /** http://127.0.0.1:PORT */
  url: string;
  port: number;
  metricsUrl?: string;
  /** Same as SIGHUP: re-reads known_hosts, keys and the proxy password; in-flight requests continue. */
  reload(): Promise<void>;
  /** Stops accepting, lets in-flight requests finish within `graceMs` (default proxy.gracePeriod), closes SSH. */
  close(graceMs?: number): Promise<void>;
  /** Resolves once the proxy has stopped (after close(), SIGTERM or SIGINT). */
  closed: Promise<void>;
}

export interface StartOptions {
  logger?: Logger;
  installSignalHandlers?: boolean;
  /**
   * Reads the settings again on reload (the target list, for `--config`): targets added or removed, their
   * routes, keys, the allowlist and /sd change at once. Without it a reload re-reads only the files.
   */
  reloadRuntime?: () => ProxyRuntime | Promise<ProxyRuntime>;
}

/** known_hosts from the file, plus the target list's `hostKeys` when it has any. */
function loadKnownHosts(rt: ProxyRuntime): KnownHosts {
  if (rt.extraKnownHosts.length === 0) return KnownHosts.load(rt.knownHostsFile);
  // The file may be absent when the list carries every key (a --known-hosts-file flag is checked at start);
  // one that exists must be readable.
  const fromFile = existsSync(rt.knownHostsFile) ? KnownHosts.read(rt.knownHostsFile) : "";
  const from = rt.extraKnownHostsFrom;
  const extra = rt.extraKnownHosts.map((line, i) => ({
    line,
    origin: from?.[i] ? `${from[i]} in ${rt.source}` : `hostKeys in ${rt.source}`,
  }));
  return KnownHosts.combine(fromFile, rt.knownHostsFile, extra);
}

function readCredentials(rt: ProxyRuntime): { username: string; password: string } | undefined {
  if (!rt.auth) return undefined;
  try {
    const password = readFileSync(rt.auth.passwordFile, "utf8").replace(/\r?\n$/, "");
    if (!password) throw new Error("file is empty");
    return { username: rt.auth.username, password };
  } catch (err) {
    throw new ProxySettingsError(
      `${rt.auth.passwordFile}: cannot read proxy.auth.passwordFile: ${describeCause(err)}`,
      {
        cause: err,
      },
    );
  }
}

function makeAllowlist(rt: ProxyRuntime, knownHosts: KnownHosts): Allowlist {
  return new Allowlist({
    exact: rt.allow.exact,
    patterns: rt.allow.patterns,
    // sshified's rule: any host that has a known_hosts entry (for its SSH port), any exporter port.
    any: rt.allow.anyKnownHost ? (host) => knownHosts.hasHost(host, routeFor(rt, host).ssh.port) : undefined,
    howToAllow: rt.allow.anyKnownHost
      ? `without --config the proxy reaches only hosts with an entry in ${rt.knownHostsFile}; add the host's key there, or run with --config and a target list`
      : `add it to the target list ${rt.source} or to proxy.allow`,
  });
}

function listen(server: Server, at: HostPort): Promise<number> {
  return new Promise((resolve, reject) => {
    const onError = (err: Error) => reject(new ListenError(joinHostPort(at.host, at.port), err));
    server.once("error", onError);
    server.listen(at.port, at.host, () => {
      server.off("error", onError);
      const addr = server.address();
      resolve(typeof addr === "object" && addr ? addr.port : at.port);
    });
  });
}

export async function startProxy(runtime: ProxyRuntime, opts: StartOptions = {}): Promise<RunningProxy> {
  const logger = opts.logger ?? pino({ name: "sshscrape" });
  let rt = runtime;
  if (!isLoopback(rt.listen.host) && !rt.auth && !rt.allowNonLoopback)
    throw new ProxySettingsError(
      `refusing to listen on ${joinHostPort(rt.listen.host, rt.listen.port)} without proxy authentication: ` +
        "anyone who can reach it could use your SSH key; set proxy.auth, or pass --allow-non-loopback " +
        "(proxy.allowNonLoopback) if a firewall already restricts it",
    );

  const keys = new KeyStore();
  for (const w of keys.load(keyFiles(rt), rt.passphraseFile)) logger.warn(w);
  let knownHosts = loadKnownHosts(rt);
  for (const w of knownHosts.warnings) logger.warn(w);
  let allowlist = makeAllowlist(rt, knownHosts);
  let credentials = readCredentials(rt);
  if (rt.mode === "sshified")
    logger.warn(
      "sshified-compatible mode (no --config): every host in known_hosts may be proxied, on any port; " +
        "pass --config FILE with a target list to allow only its exporters",
    );

  const endpoints = rt.preconnect ? configuredEndpointsOf(rt) : [];
  const readiness = new Readiness(endpoints.length);
  const metrics = new ProxyMetrics();
  metrics.configure(
    rt.allow.exact.map((t) => joinHostPort(t.host, t.port)),
    configuredEndpointsOf(rt).map(endpointName),
  );
  metrics.readinessFrom(() => readiness.ready);
  fitHeap(configuredEndpointsOf(rt).length, logger);
  tierUpSooner(configuredEndpointsOf(rt).length, logger);
  if (!kexCryptoApplied)
    logger.debug(
      { code: "KEX_CRYPTO_NOT_APPLIED" },
      "ssh2 was loaded before the proxy's ssh2-lib.js: its key exchange uses node:crypto's DER/PEM functions",
    );
  const pool = new SshPool({
    timeouts: rt.timeouts,
    maxHandshakes: rt.maxHandshakes,
    noDelaySession: rt.noDelaySession,
    keys,
    knownHosts: () => knownHosts,
    metrics,
    logger,
  });
  const proxy = createProxyServer({
    runtime: () => rt,
    allowlist: () => allowlist,
    credentials: () => credentials,
    readiness,
    pool,
    metrics,
    logger,
  });
  proxy.server.on("error", (err) => logger.error({ cause: describeCause(err) }, "proxy server error"));
  const port = await listen(proxy.server, rt.listen);
  const url = `http://${joinHostPort(rt.listen.host, port)}`;

  let metricsServer: Server | undefined;
  let metricsUrl: string | undefined;
  if (rt.metricsListen) {
    const admin = { mode: () => rt.mode, credentials: () => credentials, hosts: () => pool.state(), metrics };
    const ms = createServer((req, res) => {
      if ((req.url ?? "").split("?")[0] !== "/metrics") {
        res.writeHead(404, { "content-type": "text/plain" }).end("only /metrics is served here\n");
        return;
      }
      serveAdmin(admin, req, res);
    });
    ms.on("error", (err) => logger.error({ cause: describeCause(err) }, "metrics server error"));
    try {
      const mport = await listen(ms, rt.metricsListen);
      metricsServer = ms;
      metricsUrl = `http://${joinHostPort(rt.metricsListen.host, mport)}/metrics`;
    } catch (err) {
      proxy.server.close();
      throw err;
    }
  }
  logger.info({ url, metricsUrl, mode: rt.mode, source: rt.source }, "listening");
  if (rt.preconnect) void preconnect(endpoints, pool, readiness, logger);

  const reloadOnce = async () => {
    try {
      const next = opts.reloadRuntime ? keepFixedSettings(rt, await opts.reloadRuntime(), logger) : rt;
      // All or nothing: read every file before changing anything (keys.load replaces the keys only once
      // every key file loaded), so one bad file leaves the previous state whole.
      const nextKnown = loadKnownHosts(next);
      const nextCreds = readCredentials(next);
      for (const w of keys.load(keyFiles(next), next.passphraseFile)) logger.warn(w);
      const before = new Set(configuredEndpointsOf(rt).map(endpointName));
      knownHosts = nextKnown;
      for (const w of knownHosts.warnings) logger.warn(w);
      allowlist = makeAllowlist(next, knownHosts);
      credentials = nextCreds;
      rt = next;
      // The new list's targets and hosts get their own series (the old ones' stay until a restart).
      metrics.configure(
        rt.allow.exact.map((t) => joinHostPort(t.host, t.port)),
        configuredEndpointsOf(rt).map(endpointName),
      );
      fitHeap(configuredEndpointsOf(rt).length, logger);
      pool.clearBackoff();
      pool.recheckHostKeys();
      const now = configuredEndpointsOf(rt);
      const added = now.filter((e) => !before.has(endpointName(e)));
      if (opts.reloadRuntime) {
        const keep = new Set<string>();
        for (const endpoint of now)
          for (let e: SshEndpoint | undefined = endpoint; e; e = e.jump) keep.add(endpointName(e));
        const closed = pool.closeUnlisted(keep);
        if (closed.length > 0)
          logger.info({ hosts: closed.length }, "closed connections to hosts no longer listed");
      }
      if (rt.preconnect && added.length > 0)
        void preconnect(added, pool, new Readiness(added.length), logger);
      logger.info(
        {
          knownHostsFile: rt.knownHostsFile,
          ...(opts.reloadRuntime ? { targetList: rt.source, targets: rt.allow.exact.length } : {}),
        },
        "reloaded known_hosts, keys and credentials",
      );
    } catch (err) {
      logger.error({ cause: describeCause(err) }, "reload failed; keeping the previous known_hosts and keys");
      throw err;
    }
  };

  // One reload at a time, in the order asked: reading the target list is asynchronous, and a later SIGHUP
  // must not be overtaken by an earlier one still reading an older file.
  let lastReload: Promise<void> = Promise.resolve();
  const reload = (): Promise<void> => {
    lastReload = lastReload.catch(() => {}).then(reloadOnce);
    return lastReload;
  };

  let resolveClosed: () => void = () => {};
  const closed = new Promise<void>((r) => {
    resolveClosed = r;
  });
  let closing: Promise<void> | undefined;
  const close = (graceMs = rt.timeouts.grace): Promise<void> => {
    closing ??= (async () => {
      logger.info({ graceMs }, "stopping");
      removeSignalHandlers();
      proxy.server.close();
      proxy.server.closeIdleConnections();
      metricsServer?.close();
      metricsServer?.closeAllConnections();
      const until = Date.now() + graceMs;
      while (proxy.active() > 0 && Date.now() < until) await new Promise((r) => setTimeout(r, 25));
      if (proxy.active() > 0)
        logger.warn({ active: proxy.active() }, "grace period over; closing remaining requests");
      proxy.server.closeAllConnections();
      proxy.destroyTunnels();
      await pool.close();
      proxy.flushLog();
      logger.info("stopped");
      resolveClosed();
    })();
    return closing;
  };

  const onHup = () => {
    reload().catch(() => {
      // logged in reload(); the proxy keeps running with the previous files
    });
  };
  const onTerm = (signal: NodeJS.Signals) => {
    logger.info({ signal }, "signal received");
    void close();
  };
  const removeSignalHandlers = () => {
    if (!opts.installSignalHandlers) return;
    process.off("SIGHUP", onHup);
    process.off("SIGTERM", onTerm);
    process.off("SIGINT", onTerm);
  };
  if (opts.installSignalHandlers) {
    process.on("SIGHUP", onHup);
    process.on("SIGTERM", onTerm);
    process.on("SIGINT", onTerm);
  }

  return { url, port, metricsUrl, reload, close, closed };
}

/**
 * The reloaded runtime with what cannot change in a running process (listen addresses, timeouts, handshake
 * slots, response limit) kept from the current one; a change there is logged as needing a restart.
 */
function keepFixedSettings(current: ProxyRuntime, next: ProxyRuntime, logger: Logger): ProxyRuntime {
  const fixed = {
    listen: current.listen,
    metricsListen: current.metricsListen,
    allowNonLoopback: current.allowNonLoopback,
    timeouts: current.timeouts,
    maxHandshakes: current.maxHandshakes,
    maxResponseBytes: current.maxResponseBytes,
    noDelaySession: current.noDelaySession,
  };
  const changed = (Object.keys(fixed) as Array<keyof typeof fixed>).filter(
    (k) => JSON.stringify(current[k]) !== JSON.stringify(next[k]),
  );
  if (changed.length > 0)
    logger.warn({ settings: changed }, "these settings changed but take effect only after a restart");
  // The start-up rule holds on reload too: no dropping proxy.auth while listening beyond loopback.
  if (!isLoopback(current.listen.host) && !next.auth && !current.allowNonLoopback)
    throw new ProxySettingsError(
      "refusing to drop proxy.auth on reload while listening on a non-loopback address; restart instead",
    );
  return { ...next, ...fixed };
}

/** Every SSH endpoint the target list routes to (jump hosts connect as part of their targets). */
function configuredEndpointsOf(rt: ProxyRuntime): SshEndpoint[] {
  const endpoints = new Map<string, SshEndpoint>();
  for (const { host } of rt.allow.exact) {
    const { ssh } = routeFor(rt, host);
    endpoints.set(endpointName(ssh), ssh);
  }
  return [...endpoints.values()];
}

/**
 * Connects to every configured host in the background, queueing behind scrapes for handshake slots
 * (proxy.maxHandshakes), so a fleet's first round of scrapes finds its connections open instead of queueing
 * for handshakes within the scrape timeout (docs/benchmarks-scale.md, "Start-up").
 */
async function preconnect(
  endpoints: SshEndpoint[],
  pool: SshPool,
  readiness: Readiness,
  logger: Logger,
): Promise<void> {
  const started = Date.now();
  const results = await Promise.all(
    endpoints.map(async (e) => {
      const ok = await pool.warm(e);
      readiness.settle(ok);
      return ok;
    }),
  );
  const ok = results.filter(Boolean).length;
  logger.info(
    { hosts: endpoints.length, connected: ok, failed: endpoints.length - ok, ms: Date.now() - started },
    "preconnect done",
  );
}
