/**
 * The HTTP side: a node:http server that routes every absolute-form request by its own target (Prometheus
 * sends requests for many targets over one keep-alive connection), tunnels CONNECT for `scheme: https`
 * targets, and serves its own endpoints in origin form (admin.ts). Every proxied request passes the prologue
 * (prologue.ts) first; failures are answered by error-writers.ts and recorded by request-log.ts. Prometheus'
 * plain GET/HEAD requests are read by the raw front (front.ts) instead of node:http's parser, and reach the
 * same proxyRequest; every other request goes through node:http as before.
 */
import { createServer, type IncomingMessage, type Server, ServerResponse } from "node:http";
import type { Socket } from "node:net";
import type { Duplex } from "node:stream";
import { pipeline } from "node:stream";
import type { Logger } from "pino";
import type { ClientChannel } from "ssh2";
import { joinHostPort } from "../config/host.js";
import { serveAdmin } from "./admin.js";
import type { Allowlist } from "./allowlist.js";
import type { Credentials } from "./auth.js";
import { sendError, writeRawError } from "./error-writers.js";
import {
  asProxyError,
  ClientGoneError,
  HeadersTooLargeError,
  MalformedRequestError,
  RequestHeadersTimeoutError,
} from "./errors.js";
import { type ClientSide, exchange, type RequestBody, type ResponseSink, type Upstream } from "./exchange.js";
import { installFront } from "./front.js";
import type { ProxyMetrics } from "./metrics.js";
import type { SshPool } from "./pool.js";
import {
  type AdmittedRequest,
  admitConnect,
  admitRequest,
  type Progress,
  type RequestHead,
} from "./prologue.js";
import type { Readiness } from "./readiness.js";
import { RequestLog } from "./request-log.js";
import { endpointName, type ProxyRuntime, type Route } from "./settings.js";
import { IdleChannels, UpstreamAgents } from "./upstream.js";

/** A request's idle list before it is admitted: never used (the exchange starts after admission). */
const NO_IDLE = new IdleChannels(0);

/** node:http's default; a larger header block is answered 431 by the parser. */
export const MAX_HEADER_BYTES = 16 * 1024;

/**
 * Time a client gets to send a complete header block. Prometheus writes its request in one go; a client that
 * trickles headers (slowloris) would otherwise hold a socket for Node's default 60 s.
 */
export const HEADERS_TIMEOUT_MS = 10_000;

export interface ServerDeps {
  runtime: () => ProxyRuntime;
  allowlist: () => Allowlist;
  /** Current proxy credentials, or undefined when proxy auth is off. */
  credentials: () => Credentials | undefined;
  /** For /readyz; always ready when omitted. */
  readiness?: Readiness;
  pool: SshPool;
  metrics: ProxyMetrics;
  logger: Logger;
  /**
   * Serve Prometheus' plain GET/HEAD requests with the raw front (front.ts) instead of node:http's server.
   * Default: on, unless the environment says SSHSCRAPE_FRONT=0 (a benchmarking and debugging switch).
   */
  front?: boolean;
}

/** Whether the raw front is on by default: SSHSCRAPE_FRONT=0 turns it off. */
export function frontFromEnv(env: NodeJS.ProcessEnv = process.env): boolean {
  return env.SSHSCRAPE_FRONT !== "0";
}

export interface ProxyServer {
  server: Server;
  /** Requests and tunnels being served (graceful shutdown waits for zero). */
  active(): number;
  /** Destroys every open tunnel and idle upstream channel (after the grace period). */
  destroyTunnels(): void;
  /** Writes the summaries of rate-limited log lines still pending (at shutdown). */
  flushLog(): void;
}

/**
 * A response failed after its head was handed over (docs/proxy.md, "Failed responses") is destroyed; what
 * ServerResponse wrote in this tick is still corked on the socket (it corks until the end of the tick, as the
 * front does), and destroy() would drop it: the client saw a connection closed with no status line at all. It
 * leaves first, so the client sees the response cut short, as FrontResponse.destroy() does.
 */
function flushCorked(res: ServerResponse): void {
  const socket = res.socket;
  if (socket === null || socket.destroyed) return;
  while (socket.writableCorked > 0) socket.uncork();
}

export function createProxyServer(deps: ServerDeps): ProxyServer {
  const { metrics, logger, pool } = deps;
  let active = 0;
  const tunnels = new Set<Duplex>();
  const agents = new UpstreamAgents(deps.runtime().timeouts.idle);
  const log = new RequestLog(metrics, logger);
  const admin = {
    mode: () => deps.runtime().mode,
    credentials: deps.credentials,
    readiness: deps.readiness,
    hosts: () => pool.state(),
    sd: () => deps.runtime().sd ?? [],
    metrics,
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
    if (req.url?.startsWith("/")) {
      res.once("close", () => active--);
      serveAdmin(admin, req, res);
      return;
    }
    proxyRequest(req, res);
  });

  if (deps.front ?? frontFromEnv()) {
    // Absolute-form GET/HEAD only: everything else is handed to the 'request' listener above (front.ts).
    installFront({
      server,
      handle: (req, res) => {
        active++;
        proxyRequest(req, res);
      },
      headersTimeoutMs: HEADERS_TIMEOUT_MS,
      logger,
    });
  }

  // The idle-list key of a route and port, built once per cached route (prologue.ts) rather than per request.
  const agentKeys = new WeakMap<Route, Map<number, string>>();
  const agentKey = (route: Route, port: number): string => {
    let byPort = agentKeys.get(route);
    if (!byPort) {
      byPort = new Map();
      agentKeys.set(route, byPort);
    }
    let key = byPort.get(port);
    if (key === undefined) {
      if (byPort.size >= 256) byPort.clear(); // clients choose the port (sshified mode): keep it bounded
      key = `${endpointName(route.ssh)} ${joinHostPort(route.remoteAddress, port)}`;
      byPort.set(port, key);
    }
    return key;
  };

  /**
   * One proxied request from admission to its log line: the client side the exchange watches, the prologue's
   * progress and the exchange's way upstream, as one object. It was an async function with a Promise, an
   * await, a suspended frame and ten closures and objects per scrape (docs/benchmarks.md, "Garbage per
   * scrape").
   */
  class ProxiedRequest implements ClientSide, Progress, Upstream {
    /** The target label for metrics and logs, "other" until the prologue allowed the target (Progress). */
    label = "other";
    /** ClientSide: the client went away; what the exchange does then. */
    gone = false;
    onGone: (() => void) | undefined = undefined;
    /** Upstream: the idle channels of the admitted route (set once admitted). */
    idle = NO_IDLE;
    private readonly started = performance.now();
    /**
     * A client that disconnects aborts its exchange and any channel being opened for it: nobody would read
     * the answer. The AbortController only exists when a fresh channel is opened: almost every scrape reuses
     * an idle one, and a controller per scrape (an EventTarget with its listeners) cost ~15 µs each time.
     */
    private abort: AbortController | undefined = undefined;
    private admitted: AdmittedRequest | undefined = undefined;
    private over = false;

    constructor(
      private readonly req: RequestHead & RequestBody,
      private readonly res: ResponseSink,
    ) {}

    start(): void {
      const res = this.res;
      // One listener for both jobs ('close' is emitted once): `active` and the client going away.
      res.on("close", this.closed);
      let a: AdmittedRequest;
      try {
        a = admitRequest(this.req, deps, this);
      } catch (e) {
        this.failed(e);
        return;
      }
      this.admitted = a;
      this.idle = agents.get(agentKey(a.route, a.port));
      const maxBytes = deps.runtime().maxResponseBytes;
      try {
        exchange(this.req, res, a.plan, this, a.label, a.path, a.deadline, this, maxBytes, this.done);
      } catch (e) {
        // As a Promise's executor would have it: a throw after the exchange was over does not answer twice.
        if (!this.over) this.failed(e);
        else
          logger.error(
            { target: a.label, cause: e instanceof Error ? e.message : String(e) },
            "exchange threw after it ended",
          );
      }
    }

    private readonly closed = (): void => {
      active--;
      if (this.res.writableFinished) return;
      this.gone = true;
      this.abort?.abort(new ClientGoneError());
      this.onGone?.();
    };

    private readonly done = (err?: unknown): void => {
      this.over = true;
      if (err === undefined)
        log.record((this.admitted as AdmittedRequest).label, this.res.statusCode, this.started);
      else this.failed(err);
    };

    private failed(e: unknown): void {
      const err = this.gone ? new ClientGoneError() : asProxyError(e);
      const res = this.res;
      log.record(this.label, res.headersSent ? res.statusCode : err.status, this.started, err);
      if (res.headersSent && res instanceof ServerResponse) flushCorked(res);
      sendError(res, err);
    }

    private signal(): AbortSignal {
      this.abort ??= new AbortController();
      if (this.gone && !this.abort.signal.aborted) this.abort.abort(new ClientGoneError());
      return this.abort.signal;
    }

    openChannel(): Promise<ClientChannel> {
      const a = this.admitted as AdmittedRequest;
      return pool.openChannel(a.route.ssh, a.route.remoteAddress, a.port, a.deadline, this.signal());
    }

    connectionLost(channel: ClientChannel): boolean {
      return pool.connectionLost(channel);
    }

    connectionName(channel: ClientChannel): string | undefined {
      return pool.connectionName(channel);
    }
  }

  const proxyRequest = (req: RequestHead & RequestBody, res: ResponseSink): void =>
    new ProxiedRequest(req, res).start();

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
    const progress: Progress = { label: "other" };
    const abort = new AbortController();
    socket.on("error", (err) =>
      logger.debug({ target: progress.label, cause: err.message }, "tunnel client socket error"),
    );
    socket.once("close", () => abort.abort(new ClientGoneError()));
    try {
      const a = admitConnect(req, deps, progress);
      const channel = await pool.openChannel(
        a.route.ssh,
        a.route.remoteAddress,
        a.port,
        a.deadline,
        abort.signal,
      );
      if (abort.signal.aborted) {
        channel.close();
        channel.resume(); // or ssh2 never emits its 'close' (see onEnd below)
        throw abort.signal.reason;
      }
      socket.write("HTTP/1.1 200 Connection Established\r\n\r\n");
      if (head.length) channel.write(head);
      log.record(a.label, 200, started);
      established();
      const onEnd = (err: Error | null | undefined) => {
        if (err && !socket.destroyed) socket.destroy();
        if (!err) return;
        channel.destroy();
        // ssh2 emits a direct-tcpip channel's "close" (which gives it back to the pool's count) only once its
        // readable side has ended (lib/utils.js onCHANNEL_CLOSE). With the client gone nobody reads it, so what
        // the exporter still sends (a plain-http answer to a TLS handshake) would hold that "close" forever.
        channel.resume();
      };
      pipeline(socket, channel, onEnd);
      pipeline(channel, socket, onEnd);
    } catch (e) {
      const err = abort.signal.aborted ? new ClientGoneError() : asProxyError(e);
      log.record(progress.label, err.status, started, err);
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
    metrics.requests.inc({ target: "other", code: String(e.status) });
    log.failed("other", e.status, e);
    writeRawError(socket, e);
  });

  return {
    server,
    active: () => active,
    destroyTunnels() {
      for (const t of tunnels) t.destroy();
      agents.destroy();
    },
    flushLog: () => log.close(),
  };
}
