import { type Agent, type IncomingMessage, request } from "node:http";
import { isIP } from "node:net";
import { type TLSSocket, connect as tlsConnect } from "node:tls";
import { joinHostPort } from "../config/index.js";

export interface ProxyEndpoint {
  host: string;
  port: number;
  /** `Proxy-Authorization` value, when the proxy wants one. */
  authorization?: string;
}

export interface ScrapeRequest {
  host: string;
  port: number;
  scheme: "http" | "https";
  path: string;
  /** What a Prometheus scrape would allow; sent as X-Prometheus-Scrape-Timeout-Seconds. */
  timeoutMs: number;
  tls?: { ca?: string; insecure?: boolean };
}

export type ScrapeOutcome =
  | { ok: true; status: number; body: Buffer; latencyMs: number }
  | { ok: false; status?: number; code: CheckErrorCode; cause: string; latencyMs: number };

/**
 * Why a scrape failed, stable for scripts: the proxy's own code (its `X-Sshscrape-Error` header, e.g.
 * `HOST_KEY_MISMATCH`, `SSH_CONNECT_FAILED`), or one of these for failures the proxy did not answer for.
 */
export type CheckErrorCode =
  | (string & {})
  | "EXPORTER_STATUS" // the exporter itself answered non-2xx
  | "PROXY_REFUSED" // a CONNECT refusal without the proxy's code
  | "PROXY_UNREACHABLE"
  | "TLS_FAILED"
  | "RESPONSE_BROKEN"
  | "CHECK_TIMEOUT";

/** Extra time after the scrape timeout, so the proxy's own 504 (naming the phase) arrives before ours. */
const CLIENT_GRACE_MS = 2000;
const MAX_CAUSE = 500;

/**
 * Scrapes one exporter through an HTTP forward proxy the way Prometheus does: an absolute-form
 * `GET http://host:port/path` (RFC 9112 §3.2.2) for http, or CONNECT host:port (RFC 9110 §9.3.6) and TLS
 * inside the tunnel for https. Never rejects: every failure comes back with its cause, which for a proxy
 * error is the proxy's plain-text body.
 */
export function scrape(proxy: ProxyEndpoint, agent: Agent, req: ScrapeRequest): Promise<ScrapeOutcome> {
  const started = performance.now();
  const elapsed = () => Math.round((performance.now() - started) * 10) / 10;
  return new Promise<ScrapeOutcome>((resolve) => {
    let done = false;
    const cleanups: Array<() => void> = [];
    const finish = (o: ScrapeOutcome) => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      for (const c of cleanups) c();
      resolve(o);
    };
    const fail = (code: CheckErrorCode, cause: string, status?: number) =>
      finish({ ok: false, status, code, cause, latencyMs: elapsed() });
    const timer = setTimeout(
      () => fail("CHECK_TIMEOUT", `no response within ${req.timeoutMs + CLIENT_GRACE_MS} ms`),
      req.timeoutMs + CLIENT_GRACE_MS,
    );
    const authority = joinHostPort(req.host, req.port);
    const headers: Record<string, string> = {
      host: authority,
      accept: "text/plain;version=0.0.4;q=0.9,*/*;q=0.1",
      "user-agent": "sshscrape-check",
      "x-prometheus-scrape-timeout-seconds": String(req.timeoutMs / 1000),
    };
    const proxyHeaders = proxy.authorization ? { "proxy-authorization": proxy.authorization } : {};

    const readResponse = (res: IncomingMessage, via: string) => {
      const chunks: Buffer[] = [];
      res.on("data", (c: Buffer) => chunks.push(c));
      res.on("error", (err) =>
        fail("RESPONSE_BROKEN", `${via}: response broke off: ${err.message}`, res.statusCode),
      );
      res.on("end", () => {
        const body = Buffer.concat(chunks);
        const status = res.statusCode ?? 0;
        if (status >= 200 && status < 300) finish({ ok: true, status, body, latencyMs: elapsed() });
        else
          fail(
            proxyCode(res) ?? "EXPORTER_STATUS",
            `${status} ${res.statusMessage ?? ""}`.trim() + causeText(body),
            status,
          );
      });
    };

    if (req.scheme === "http") {
      const r = request({
        host: proxy.host,
        port: proxy.port,
        method: "GET",
        path: `http://${authority}${req.path}`,
        headers: { ...headers, ...proxyHeaders },
        agent,
      });
      r.on("socket", (s) => s.setNoDelay(true));
      r.on("response", (res) => readResponse(res, "proxy"));
      r.on("error", (err) => fail("PROXY_UNREACHABLE", proxyConnectCause(proxy, err)));
      cleanups.push(() => r.destroy());
      r.end();
      return;
    }

    // https: the proxy only sees the tunnel; the exporter's answer comes back through TLS.
    const c = request({
      host: proxy.host,
      port: proxy.port,
      method: "CONNECT",
      path: authority,
      headers: { host: authority, ...proxyHeaders },
      agent: false,
    });
    cleanups.push(() => c.destroy());
    c.on("socket", (s) => s.setNoDelay(true));
    c.on("error", (err) => fail("PROXY_UNREACHABLE", proxyConnectCause(proxy, err)));
    c.on("connect", (res, socket, head) => {
      cleanups.push(() => socket.destroy());
      if (res.statusCode !== 200) {
        // The CONNECT refusal's body is the proxy's explanation; read what it sends, then hang up.
        const chunks: Buffer[] = [head];
        socket.on("data", (d: Buffer) => chunks.push(d));
        const report = () =>
          fail(
            proxyCode(res) ?? "PROXY_REFUSED",
            `CONNECT ${res.statusCode} ${res.statusMessage ?? ""}`.trim() + causeText(Buffer.concat(chunks)),
            res.statusCode,
          );
        socket.on("end", report);
        socket.on("close", report);
        socket.on("error", report);
        const length = Number(res.headers["content-length"] ?? Number.NaN);
        const complete = () => Number.isFinite(length) && Buffer.concat(chunks).length >= length;
        socket.on("data", () => complete() && report());
        if (complete()) report();
        return;
      }
      let tls: TLSSocket;
      try {
        tls = tlsConnect({
          socket,
          // Checked against the certificate (an IP against its IP SANs); without it node checks "localhost".
          host: req.host,
          servername: isIP(req.host) ? undefined : req.host,
          ca: req.tls?.ca,
          rejectUnauthorized: !req.tls?.insecure,
          ALPNProtocols: ["http/1.1"],
        });
      } catch (err) {
        fail("TLS_FAILED", `TLS to ${authority}: ${(err as Error).message}`);
        return;
      }
      cleanups.push(() => tls.destroy());
      tls.on("error", (err) => fail("TLS_FAILED", `TLS to ${authority}: ${err.message}`));
      const r = request({
        method: "GET",
        path: req.path,
        headers,
        createConnection: () => tls,
      });
      r.on("response", (res) => readResponse(res, authority));
      r.on("error", (err) => fail("RESPONSE_BROKEN", `${authority} (through the tunnel): ${err.message}`));
      r.end();
    });
    c.end();
  });
}

/** The proxy names its failures in `X-Sshscrape-Error`; an exporter's own error status has none. */
function proxyCode(res: IncomingMessage): string | undefined {
  const v = res.headers["x-sshscrape-error"];
  return typeof v === "string" && v ? v : undefined;
}

/** ` — first line(s) of the body`: the proxy's plain-text error says what failed and where. */
function causeText(body: Buffer): string {
  const text = body
    .toString("utf8")
    .trim()
    .replace(/\s*\n\s*/g, " | ");
  if (!text) return "";
  return `: ${text.length > MAX_CAUSE ? `${text.slice(0, MAX_CAUSE)}…` : text}`;
}

function proxyConnectCause(proxy: ProxyEndpoint, err: Error & { code?: string }): string {
  const where = `proxy at ${joinHostPort(proxy.host, proxy.port)}`;
  if (err.code === "ECONNREFUSED")
    return `cannot reach the ${where}: connection refused (is \`sshscrape proxy\` running there? or pass --direct)`;
  return `${where}: ${err.code ?? err.message}${err.code ? ` (${err.message})` : ""}`;
}
