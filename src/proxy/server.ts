/**
 * The HTTP side: a node:http server that routes every absolute-form request by its own target (Prometheus
 * sends requests for many targets over one keep-alive connection), tunnels CONNECT for `scheme: https`
 * targets, and serves its own /metrics, /healthz, /readyz and /targets in origin form.
 */
import { timingSafeEqual } from "node:crypto";
import {
  type Agent,
  type ClientRequest,
  createServer,
  request as httpRequest,
  type IncomingMessage,
  type Server,
  type ServerResponse,
} from "node:http";
import type { Socket } from "node:net";
import type { Duplex } from "node:stream";
import { pipeline } from "node:stream";
import type { Logger } from "pino";
import type { ClientChannel } from "ssh2";
import { joinHostPort } from "../config/index.js";
import type { Allowlist } from "./allowlist.js";
import { Deadline, SCRAPE_TIMEOUT_HEADER } from "./deadline.js";
import {
  asProxyError,
  ClientGoneError,
  HeadersTooLargeError,
  MalformedRequestError,
  MethodNotAllowedError,
  NotAllowedError,
  NotAProxyRequestError,
  ProxyAuthRequiredError,
  ProxyError,
  RequestHeadersTimeoutError,
  ResponseTooLargeError,
  SshConnectionLostError,
  TimeoutError,
  UpstreamError,
} from "./errors.js";
import { endToEndHeaders } from "./hop-by-hop.js";
import { type ProxyMetrics, serveMetrics } from "./metrics.js";
import type { SshPool } from "./pool.js";
import type { Readiness } from "./readiness.js";
import { parseAbsoluteTarget, parseConnectTarget } from "./request-target.js";
import { endpointName, type ProxyRuntime, routeFor } from "./settings.js";
import { type ChannelRequestArgs, UpstreamAgents } from "./upstream.js";

/** node:http's default; a larger header block is answered 431 by the parser. */
export const MAX_HEADER_BYTES = 16 * 1024;

/**
 * Time a client gets to send a complete header block. Prometheus writes its request in one go; a client that
 * trickles headers (slowloris, issue 6 row 7) would otherwise hold a socket for Node's default 60 s.
 */
export const HEADERS_TIMEOUT_MS = 10_000;

export interface ServerDeps {
  runtime: () => ProxyRuntime;
  allowlist: () => Allowlist;
  /** Current proxy credentials, or undefined when proxy auth is off. */
  credentials: () => { username: string; password: string } | undefined;
  /** For /readyz; always ready when omitted. */
  readiness?: Readiness;
  pool: SshPool;
  metrics: ProxyMetrics;
  logger: Logger;
}

export interface ProxyServer {
  server: Server;
  /** Requests and tunnels being served (graceful shutdown waits for zero). */
  active(): number;
  /** Destroys every open tunnel and idle upstream channel (after the grace period). */
  destroyTunnels(): void;
}

const PROXIED_METHODS = new Set(["GET", "HEAD", "POST"]);

export function createProxyServer(deps: ServerDeps): ProxyServer {
  const { metrics, logger, pool } = deps;
  let active = 0;
  const tunnels = new Set<Duplex>();
  const agents = new UpstreamAgents(deps.runtime().timeouts.idle);

  const record = (target: string, status: number, started: number, err?: ProxyError) => {
    metrics.requests.inc({ target, code: String(status) });
    metrics.duration.observe({ target }, (performance.now() - started) / 1000);
    if (!err) return;
    metrics.errors.inc({ type: err.code });
    metrics.targetErrors.inc({ target, type: err.code, phase: err.phase });
    const cause = err.cause instanceof Error ? err.cause.message : undefined;
    const fields = { target, status, phase: err.phase, code: err.code, error: err.message, cause };
    if (err instanceof ClientGoneError) logger.debug(fields, "client went away");
    else if (err.code.startsWith("HOST_KEY_")) logger.error(fields, "request failed");
    else logger.warn(fields, "request failed");
  };

  /** Proxy-Authorization: Basic (RFC 9110 §11.7.1, RFC 7617); compared in constant time. */
  const checkAuth = (req: IncomingMessage) => {
    const creds = deps.credentials();
    if (!creds) return;
    const header = req.headers["proxy-authorization"];
    if (!header) throw new ProxyAuthRequiredError(false);
    const m = /^Basic\s+(\S+)\s*$/i.exec(header);
    const given = Buffer.from(m ? Buffer.from(m[1] as string, "base64").toString("utf8") : "");
    const expected = Buffer.from(`${creds.username}:${creds.password}`);
    if (given.length !== expected.length || !timingSafeEqual(given, expected))
      throw new ProxyAuthRequiredError(true);
  };

  const checkAllowed = (host: string, port: number) => {
    const target = joinHostPort(host, port);
    if (!deps.allowlist().allows(host, port)) throw new NotAllowedError(target);
    return target;
  };

  const server = createServer({
    maxHeaderSize: MAX_HEADER_BYTES,
    headersTimeout: HEADERS_TIMEOUT_MS,
    // Node checks the timeout above only every 30 s by default, so a trickling client would keep its socket
    // for up to 40 s; once a second keeps the bound close to what it says.
    connectionsCheckingInterval: 1_000,
  });
  // Longer than Go's default idle timeout (90 s is the client's; net/http closes idle conns it does not reuse),
  // so a scrape every 15–60 s finds its connection still open.
  server.keepAliveTimeout = 65_000;

  server.on("request", (req: IncomingMessage, res: ServerResponse) => {
    active++;
    res.once("close", () => active--);
    if (req.url?.startsWith("/")) {
      serveOwn(req, res);
      return;
    }
    void proxyRequest(req, res);
  });

  const serveOwn = (req: IncomingMessage, res: ServerResponse) => {
    const path = (req.url ?? "/").split("?")[0];
    const send = (status: number, type: string, body: string) => {
      res.writeHead(status, { "content-type": type, "content-length": Buffer.byteLength(body) });
      res.end(req.method === "HEAD" ? undefined : body);
    };
    if (req.method !== "GET" && req.method !== "HEAD") {
      const err = new MethodNotAllowedError(req.method ?? "?");
      send(err.status, "text/plain; charset=utf-8", `${err.message}\n`);
      return;
    }
    if (path === "/healthz") return send(200, "text/plain; charset=utf-8", "ok\n");
    if (path === "/readyz") {
      const r = deps.readiness;
      return send(r && !r.ready ? 503 : 200, "text/plain; charset=utf-8", `${r?.describe() ?? "ready"}\n`);
    }
    if (path === "/targets") {
      const rt = deps.runtime();
      return send(
        200,
        "application/json",
        `${JSON.stringify({ mode: rt.mode, source: rt.source, hosts: pool.state() }, null, 2)}\n`,
      );
    }
    if (path === "/metrics") {
      serveMetrics(metrics, res, req.method === "HEAD");
      return;
    }
    const err = new NotAProxyRequestError(path ?? "/");
    send(err.status, "text/plain; charset=utf-8", `${err.message}\n`);
  };

  const proxyRequest = async (req: IncomingMessage, res: ServerResponse) => {
    const started = performance.now();
    let label = "other";
    // A client that disconnects aborts its exchange and any channel being opened for it: nobody would read the
    // answer. The AbortController only exists when a fresh channel is opened: almost every scrape reuses an
    // idle one, and a controller per scrape (an EventTarget with its listeners) cost ~15 µs each time.
    const client: ClientSide = { gone: false };
    let abort: AbortController | undefined;
    res.once("close", () => {
      if (res.writableFinished) return;
      client.gone = true;
      abort?.abort(new ClientGoneError());
      client.onGone?.();
    });
    const signal = () => {
      abort ??= new AbortController();
      if (client.gone && !abort.signal.aborted) abort.abort(new ClientGoneError());
      return abort.signal;
    };
    try {
      if (!PROXIED_METHODS.has(req.method ?? "")) throw new MethodNotAllowedError(req.method ?? "?");
      checkAuth(req);
      const target = parseAbsoluteTarget(req.url ?? "");
      label = checkAllowed(target.host, target.port);
      const rt = deps.runtime();
      const route = routeFor(rt, target.host);
      const deadline = Deadline.forRequest(
        req.headers[SCRAPE_TIMEOUT_HEADER],
        rt.timeouts.margin,
        rt.timeouts.request,
      );
      const upstream: Upstream = {
        agent: agents.get(`${endpointName(route.ssh)} ${joinHostPort(route.remoteAddress, target.port)}`),
        openChannel: () => pool.openChannel(route.ssh, route.remoteAddress, target.port, deadline, signal()),
        connectionLost: (channel) => pool.connectionLost(channel),
        connectionName: (channel) => pool.connectionName(channel),
      };
      await exchange(req, res, upstream, label, target.path, deadline, client, rt.maxResponseBytes);
      record(label, res.statusCode, started);
    } catch (e) {
      const err = client.gone ? new ClientGoneError() : asProxyError(e);
      record(label, res.headersSent ? res.statusCode : err.status, started, err);
      sendError(res, err);
    }
  };

  server.on("connect", (req: IncomingMessage, socket: Duplex, head: Buffer) => {
    active++;
    tunnels.add(socket);
    let counted = true;
    const done = () => {
      if (counted) active--;
      counted = false;
      tunnels.delete(socket);
    };
    socket.once("close", done);
    void tunnel(req, socket, head, () => {
      // Once established, a tunnel is long-lived (Prometheus reuses the TLS connection across scrapes), so it
      // no longer holds up a graceful shutdown beyond the grace period.
      if (counted) active--;
      counted = false;
    });
  });

  const tunnel = async (req: IncomingMessage, socket: Duplex, head: Buffer, established: () => void) => {
    const started = performance.now();
    let label = "other";
    const abort = new AbortController();
    socket.on("error", (err) =>
      logger.debug({ target: label, cause: err.message }, "tunnel client socket error"),
    );
    socket.once("close", () => abort.abort(new ClientGoneError()));
    try {
      checkAuth(req);
      const { host, port } = parseConnectTarget(req.url ?? "");
      label = checkAllowed(host, port);
      const rt = deps.runtime();
      const route = routeFor(rt, host);
      const deadline = Deadline.forRequest(
        req.headers[SCRAPE_TIMEOUT_HEADER],
        rt.timeouts.margin,
        rt.timeouts.request,
      );
      const channel = await pool.openChannel(route.ssh, route.remoteAddress, port, deadline, abort.signal);
      if (abort.signal.aborted) {
        channel.close();
        throw abort.signal.reason;
      }
      socket.write("HTTP/1.1 200 Connection Established\r\n\r\n");
      if (head.length) channel.write(head);
      record(label, 200, started);
      established();
      const onEnd = (err: Error | null | undefined) => {
        if (err && !socket.destroyed) socket.destroy();
        if (err) channel.destroy();
      };
      pipeline(socket, channel, onEnd);
      pipeline(channel, socket, onEnd);
    } catch (e) {
      const err = abort.signal.aborted ? new ClientGoneError() : asProxyError(e);
      record(label, err.status, started, err);
      writeRawError(socket, err);
    }
  };

  server.on("clientError", (err: NodeJS.ErrnoException, socket: Duplex) => {
    if (err.code === "ECONNRESET" || !socket.writable) {
      socket.destroy();
      return;
    }
    // Node counts the time before a new connection's first byte as header time. A connection that never
    // sent a byte is not a slow request: Go's http.Transport (Prometheus) dials spare connections it may never
    // use. Close it quietly instead of answering 408 and counting a client error (docs/benchmarks-scale.md).
    if (err.code === "ERR_HTTP_REQUEST_TIMEOUT" && (socket as Socket).bytesRead === 0) {
      logger.debug("closing a connection that sent no request within the headers timeout");
      socket.destroy();
      return;
    }
    const e =
      err.code === "HPE_HEADER_OVERFLOW"
        ? new HeadersTooLargeError(MAX_HEADER_BYTES)
        : err.code === "ERR_HTTP_REQUEST_TIMEOUT"
          ? new RequestHeadersTimeoutError(HEADERS_TIMEOUT_MS)
          : new MalformedRequestError(err.code ?? err.message);
    metrics.errors.inc({ type: e.code });
    metrics.requests.inc({ target: "other", code: String(e.status) });
    logger.warn({ status: e.status, code: e.code, error: e.message }, "request failed");
    writeRawError(socket, e);
  });

  return {
    server,
    active: () => active,
    destroyTunnels() {
      for (const t of tunnels) t.destroy();
      agents.destroy();
    },
  };
}

/** Where an exchange gets its channel: an idle one of the agent, or a fresh one from the pool. */
interface Upstream {
  agent: Agent;
  openChannel: ChannelRequestArgs["openChannel"];
  connectionLost: (channel: ClientChannel) => boolean;
  connectionName: (channel: ClientChannel) => string | undefined;
}

/** Whether a request's client went away, and what its exchange does then. */
interface ClientSide {
  gone: boolean;
  onGone?: (() => void) | undefined;
}

/** Without a body, a request can be sent again (RFC 9112 §9.3.1 for idempotent methods). */
function replayable(req: IncomingMessage): boolean {
  if (req.method !== "GET" && req.method !== "HEAD") return false;
  const length = req.headers["content-length"];
  return req.headers["transfer-encoding"] === undefined && (length === undefined || length === "0");
}

/**
 * One HTTP exchange over a channel (an idle keep-alive one, or a fresh one): request and response stream
 * through untouched apart from the hop-by-hop headers (Content-Encoding and the body are passed as they are;
 * nothing is buffered).
 */
function exchange(
  req: IncomingMessage,
  res: ServerResponse,
  via: Upstream,
  target: string,
  path: string,
  deadline: Deadline,
  client: ClientSide,
  maxBytes: number | undefined,
): Promise<void> {
  return new Promise<void>((resolve, reject) => {
    const headers = endToEndHeaders(req.rawHeaders);
    const canReplay = replayable(req);
    let upstream: ClientRequest | undefined;
    let timer: NodeJS.Timeout | undefined;
    let settled = false;
    const finish = (err?: unknown) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      client.onGone = undefined;
      if (err) {
        // Destroys its channel too: a half-read response must never be reused.
        upstream?.destroy();
        reject(err);
      } else resolve();
    };
    client.onGone = () => finish(new ClientGoneError());

    const send = (isRetry: boolean) => {
      const u = httpRequest({
        agent: via.agent,
        openChannel: via.openChannel,
        method: req.method,
        path,
        headers,
        setHost: false,
      } as ChannelRequestArgs);
      upstream = u;
      let responded = false;
      // Before a channel is assigned, the pool bounds each phase (connect, handshake, channel open) itself.
      u.once("socket", () => {
        if (timer !== undefined || settled) return;
        const budget = deadline.remaining();
        timer = setTimeout(
          () =>
            finish(new TimeoutError("upstream-response", `waiting for the response from ${target}`, budget)),
          budget,
        );
      });
      u.on("error", (err) => {
        if (settled) return;
        const channel = u.socket as unknown as ClientChannel | null;
        // ssh2 closes a dead connection's channels before it marks the connection closed: look a turn later.
        setImmediate(() => {
          if (settled) return;
          const lost = channel !== null && via.connectionLost(channel);
          // An idle channel can be closed by the exporter (its keep-alive timeout) just as we reuse it: send
          // once more on a fresh channel rather than fail the scrape. Not when the SSH connection itself died:
          // reconnecting at once would hit a server that is restarting and put the host into backoff.
          if (!responded && !isRetry && u.reusedSocket && canReplay && !lost) {
            send(true);
            return;
          }
          if (err instanceof ProxyError) finish(err);
          else if (lost && channel)
            finish(new SshConnectionLostError(via.connectionName(channel) ?? "?", target, err));
          else finish(new UpstreamError(target, err));
        });
      });
      u.on("response", (up) => {
        responded = true;
        const length = Number(up.headers["content-length"]);
        if (maxBytes !== undefined && Number.isFinite(length) && length > maxBytes) {
          up.destroy();
          finish(new ResponseTooLargeError(target, maxBytes));
          return;
        }
        let seen = 0;
        if (maxBytes !== undefined) {
          up.on("data", (chunk: Buffer) => {
            seen += chunk.length;
            // Headers are gone already: failing the response (socket destroyed) is the only honest answer;
            // a silently short body would be parsed as a complete scrape.
            // This listener runs before relay()'s, so the chunk that crosses the limit is never forwarded.
            if (seen > maxBytes) {
              res.destroy();
              finish(new ResponseTooLargeError(target, maxBytes));
            }
          });
        }
        res.sendDate = false;
        res.writeHead(up.statusCode ?? 502, up.statusMessage, endToEndHeaders(up.rawHeaders));
        relay(up, res, (err) => {
          if (err) finish(new UpstreamError(target, err));
          else finish();
        });
      });
      if (canReplay) {
        req.resume();
        u.end();
      } else {
        pipeline(req, u, (err) => {
          if (err) finish(new UpstreamError(target, err));
        });
      }
    };
    send(false);
  });
}

/**
 * Streams the exporter's response to the client with backpressure, as `pipeline(up, res, done)` would, and calls
 * `done` once: without an error when the response is complete, with one when either side fails or the
 * exporter's side closes before its end. Not `pipeline` itself: it gives every call an AbortController and
 * aborts it when done, and that AbortError (a DOMException with a captured stack) cost ~70 µs of CPU per scrape,
 * 5 % of the proxy's CPU at one scrape at a time (docs/benchmarks.md). Tearing down on failure is the caller's
 * job (`finish` destroys the upstream request, `sendError` the response), as it was with pipeline.
 */
function relay(up: IncomingMessage, res: ServerResponse, done: (err?: Error) => void): void {
  up.on("data", (chunk: Buffer) => {
    if (!res.write(chunk)) up.pause();
  });
  res.on("drain", () => up.resume());
  up.once("end", () => res.end());
  up.once("error", done);
  up.once("close", () => {
    if (!up.readableEnded) done(new Error("the response closed before its end"));
  });
  res.once("error", done);
  res.once("finish", () => done());
}

/** Answers with the error's status and a one-line plain-text body; after the headers, fails the response. */
function sendError(res: ServerResponse, err: ProxyError): void {
  if (res.headersSent || res.destroyed) {
    res.destroy();
    return;
  }
  const body = `${err.message}\n`;
  const headers: Record<string, string | number> = {
    "content-type": "text/plain; charset=utf-8",
    "content-length": Buffer.byteLength(body),
    "x-sshscrape-error": err.code,
  };
  if (err.status === 407) headers["proxy-authenticate"] = 'Basic realm="sshscrape"';
  res.writeHead(err.status, headers);
  res.end(body);
}

const REASONS: Record<number, string> = {
  400: "Bad Request",
  403: "Forbidden",
  405: "Method Not Allowed",
  407: "Proxy Authentication Required",
  408: "Request Timeout",
  414: "URI Too Long",
  431: "Request Header Fields Too Large",
  499: "Client Closed Request",
  502: "Bad Gateway",
  503: "Service Unavailable",
  504: "Gateway Timeout",
};

/** For CONNECT and parser errors, where there is no ServerResponse: the same answer, written by hand. */
function writeRawError(socket: Duplex, err: ProxyError): void {
  if (!socket.writable) {
    socket.destroy();
    return;
  }
  const body = `${err.message}\n`;
  const extra = err.status === 407 ? 'Proxy-Authenticate: Basic realm="sshscrape"\r\n' : "";
  socket.end(
    `HTTP/1.1 ${err.status} ${REASONS[err.status] ?? "Error"}\r\n` +
      "Content-Type: text/plain; charset=utf-8\r\n" +
      `Content-Length: ${Buffer.byteLength(body)}\r\n` +
      `X-Sshscrape-Error: ${err.code}\r\n${extra}Connection: close\r\n\r\n${body}`,
  );
}

export { ProxyError };
