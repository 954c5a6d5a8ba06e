/**
 * Test helpers for the proxy: a ProxyRuntime pointing at a test sshd, and an HTTP client that speaks to a
 * proxy the way Prometheus does (absolute-form requests, optionally over one keep-alive connection).
 */
import { execFileSync } from "node:child_process";
import { writeFileSync } from "node:fs";
import { type Agent, type IncomingHttpHeaders, request } from "node:http";
import { join } from "node:path";
import { pino } from "pino";
import type { ProxyRuntime } from "../../src/proxy/index.js";
import type { Sshd } from "./sshd.js";

export interface RuntimeOptions {
  /** host:port pairs the allowlist admits exactly. */
  exact?: Array<{ host: string; port: number }>;
  patterns?: string[];
  anyKnownHost?: boolean;
  knownHosts?: string;
  timeouts?: Partial<ProxyRuntime["timeouts"]>;
  overrides?: Partial<ProxyRuntime>;
}

/** What a runtime needs of an SSH server: a real sshd (helpers/sshd.ts) or an in-process fake. */
export type SshServer = Pick<Sshd, "dir" | "user" | "port" | "clientKeyPath" | "knownHostsLine">;

/** A runtime for `sshd`: its user, port and client key; known_hosts written to a file in sshd's dir. */
export function runtimeFor(sshd: SshServer, o: RuntimeOptions = {}): ProxyRuntime {
  const knownHostsFile = join(sshd.dir, "known_hosts");
  writeFileSync(knownHostsFile, o.knownHosts ?? `${sshd.knownHostsLine()}\n`);
  return {
    source: "test",
    mode: "config",
    listen: { host: "127.0.0.1", port: 0 },
    allowNonLoopback: false,
    knownHostsFile,
    extraKnownHosts: [],
    allow: { exact: o.exact ?? [], patterns: o.patterns ?? [], anyKnownHost: o.anyKnownHost ?? false },
    defaults: { user: sshd.user, port: sshd.port, keyFile: sshd.clientKeyPath, remoteAddress: "127.0.0.1" },
    hosts: new Map(),
    timeouts: {
      request: 10_000,
      margin: 500,
      connect: 3_000,
      handshake: 5_000,
      channelOpen: 3_000,
      idle: 60_000,
      keepaliveInterval: 5_000,
      keepaliveCountMax: 3,
      backoff: 5_000,
      grace: 2_000,
      ...o.timeouts,
    },
    maxHandshakes: 32,
    preconnect: false,
    ...o.overrides,
  };
}

/** A pino logger that keeps records in memory (for asserting on warn/error lines). */
export function memoryLogger(level = "debug") {
  const records: Array<Record<string, unknown>> = [];
  const logger = pino(
    { level },
    {
      write(line: string) {
        records.push(JSON.parse(line));
      },
    },
  );
  return { logger, records };
}

export interface ProxiedResponse {
  status: number;
  headers: IncomingHttpHeaders;
  rawHeaders: string[];
  body: Buffer;
  /** Local port of the client connection: equal ports mean one reused keep-alive connection. */
  localPort?: number;
}

export interface ProxiedRequest {
  method?: string;
  headers?: Record<string, string>;
  body?: string | Buffer;
  agent?: Agent;
  /** Give up (reject) when the proxy has not answered within this many ms. */
  timeoutMs?: number;
}

/** `GET http://TARGET…` in absolute form to the proxy, as Prometheus sends it. */
export function viaProxy(
  proxyUrl: string,
  targetUrl: string,
  o: ProxiedRequest = {},
): Promise<ProxiedResponse> {
  const proxy = new URL(proxyUrl);
  const target = new URL(targetUrl);
  return new Promise((resolve, reject) => {
    const req = request(
      {
        host: proxy.hostname,
        port: proxy.port,
        method: o.method ?? "GET",
        path: targetUrl,
        headers: { host: target.host, ...o.headers },
        agent: o.agent ?? false,
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on("data", (c: Buffer) => chunks.push(c));
        res.on("end", () =>
          resolve({
            status: res.statusCode ?? 0,
            headers: res.headers,
            rawHeaders: res.rawHeaders,
            body: Buffer.concat(chunks),
            localPort: req.socket?.localPort,
          }),
        );
        res.on("error", reject);
      },
    );
    if (o.timeoutMs !== undefined)
      req.setTimeout(o.timeoutMs, () => req.destroy(new Error(`no answer from the proxy for ${targetUrl}`)));
    req.on("error", reject);
    req.end(o.body);
  });
}

/** Raw request bytes to the proxy; resolves with everything it answered before closing (or after `ms`). */
export async function rawRequest(proxyUrl: string, bytes: string, ms = 3000): Promise<string> {
  const { connect } = await import("node:net");
  const proxy = new URL(proxyUrl);
  return new Promise((resolve, reject) => {
    const sock = connect(Number(proxy.port), proxy.hostname);
    let out = "";
    const timer = setTimeout(() => {
      sock.destroy();
      resolve(out);
    }, ms);
    sock.on("data", (d) => {
      out += d.toString("latin1");
    });
    sock.on("error", (e) => {
      clearTimeout(timer);
      if (out) resolve(out);
      else reject(e);
    });
    sock.on("close", () => {
      clearTimeout(timer);
      resolve(out);
    });
    sock.write(bytes);
  });
}

/** States of the TCP sockets on this local port other than its listener and TIME-WAIT (iproute2's ss). */
export function proxySocketStates(port: number): string[] {
  const out = execFileSync(
    "ss",
    ["-Htn", "state", "all", "exclude", "time-wait", "exclude", "listening", `( sport = :${port} )`],
    { encoding: "utf8" },
  );
  return out
    .split("\n")
    .filter((l) => l.trim() !== "")
    .map((l) => l.split(/\s+/)[0] as string);
}

/** Value of one sample in Prometheus text format, e.g. metric(text, 'sshscrape_ssh_handshakes_total', {result: "success"}). */
export function metricValue(text: string, name: string, labels: Record<string, string> = {}): number {
  let sum = 0;
  let found = false;
  for (const line of text.split("\n")) {
    if (!line.startsWith(`${name}{`) && !line.startsWith(`${name} `)) continue;
    if (Object.entries(labels).every(([k, v]) => line.includes(`${k}="${v}"`))) {
      sum += Number(line.slice(line.lastIndexOf(" ") + 1));
      found = true;
    }
  }
  return found ? sum : Number.NaN;
}

/** Count of successful public-key logins in sshd's log (LogLevel VERBOSE writes one line per login). */
export function sshdLogins(sshd: Sshd): number {
  return sshd
    .output()
    .split("\n")
    .filter((l) => l.includes("Accepted publickey")).length;
}

/**
 * Runs `make` (which starts a proxy) with the raw front on or off: SSHSCRAPE_FRONT is read when the proxy's
 * server is created (src/proxy/server.ts), and is put back as it was afterwards.
 */
export async function proxyWith<T>(frontOn: boolean, make: () => Promise<T>): Promise<T> {
  const before = process.env.SSHSCRAPE_FRONT;
  if (frontOn) delete process.env.SSHSCRAPE_FRONT;
  else process.env.SSHSCRAPE_FRONT = "0";
  try {
    return await make();
  } finally {
    if (before === undefined) delete process.env.SSHSCRAPE_FRONT;
    else process.env.SSHSCRAPE_FRONT = before;
  }
}
