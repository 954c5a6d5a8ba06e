/**
 * The raw front: serves the proxy's hot path — Prometheus' `GET http://host:port/path HTTP/1.1` over a
 * keep-alive connection — straight from the socket, without node:http's server (llhttp, IncomingMessage,
 * ServerResponse, their streams and ticks), and gives the connection to node:http for the rest of its life
 * as soon as anything else shows up on it (front-parser.ts says what is served here).
 *
 * It sits on the http.Server's own listening socket: its 'connection' listener is this one, and a hand-off
 * calls node:http's listener with the bytes not yet served put back in front of the socket's stream. Until
 * then, per connection: requests one at a time in arrival order (pipelined ones wait, buffered up to a bound,
 * reading paused beyond it), a first request due within the headers timeout (a connection that never sent a
 * byte is closed quietly, as server.ts does for node:http), the keep-alive timeout between requests, and
 * graceful shutdown (idle connections closed, busy ones finish).
 */
import type { Server } from "node:http";
import type { Socket } from "node:net";
import type { Logger } from "pino";
import type { RequestBody } from "./exchange.js";
import { type FrontHead, HAND_OFF, INCOMPLETE, parseFrontHead } from "./front-parser.js";
import { FrontResponse, type FrontResponseOwner } from "./front-response.js";
import type { RequestHead } from "./prologue.js";

/** Buffered bytes of pipelined requests beyond which reading pauses until the current one is answered. */
const MAX_PIPELINED_BYTES = 64 * 1024;
/** How often idle connections are checked against their timeouts (node:http checks every second too). */
const SWEEP_MS = 1_000;

/** What the front's request object offers: the head, and an empty body (the front serves none). */
export class FrontRequest implements RequestHead, RequestBody {
  readonly method: "GET" | "HEAD";
  readonly url: string;
  readonly httpVersion = "1.1";
  readonly rawHeaders: string[];
  readonly headers: FrontHead["headers"];
  constructor(head: FrontHead) {
    this.method = head.method;
    this.url = head.url;
    this.rawHeaders = head.rawHeaders;
    this.headers = head.headers;
  }
  resume(): this {
    return this;
  }
  pause(): this {
    return this;
  }
  on(_event: "data", _listener: (chunk: Buffer) => void): this {
    return this;
  }
  once(event: "end" | "error", listener: (err: Error) => void): this {
    if (event === "end") queueMicrotask(() => (listener as () => void)());
    return this;
  }
}

export interface FrontOptions {
  server: Server;
  /** Serves one request; the response's 'close' says when it is over (as node:http's 'request'). */
  handle: (req: FrontRequest, res: FrontResponse) => void;
  /** node:http's headersTimeout: a connection that sends nothing within it is closed quietly. */
  headersTimeoutMs: number;
  logger: Logger;
}

export interface Front {
  /** Closes the connections that are waiting for a request (graceful shutdown). */
  closeIdle(): void;
  /** Closes every connection still with the front. */
  closeAll(): void;
  /** Connections the front still holds (for tests). */
  size(): number;
}

/**
 * Takes over `opts.server`'s 'connection' listener, and extends its closeIdleConnections() and
 * closeAllConnections() to the front's connections.
 */
export function installFront(opts: FrontOptions): Front {
  const { server } = opts;
  const listeners = server.listeners("connection") as Array<(socket: Socket) => void>;
  const nodeListener = listeners[0];
  if (listeners.length !== 1 || nodeListener === undefined)
    throw new Error("front: expected node:http's one 'connection' listener");
  server.removeListener("connection", nodeListener);
  const connections = new Set<FrontConnection>();
  let sweeper: NodeJS.Timeout | undefined;

  const sweep = () => {
    const now = performance.now();
    for (const c of connections) c.checkIdle(now);
    if (connections.size === 0 && sweeper) {
      clearInterval(sweeper);
      sweeper = undefined;
    }
  };

  const ctx: ConnectionContext = {
    opts,
    handOff: (c, socket) => {
      connections.delete(c);
      nodeListener.call(server, socket);
    },
    forget: (c) => connections.delete(c),
  };

  server.on("connection", (socket: Socket) => {
    connections.add(new FrontConnection(socket, ctx));
    sweeper ??= setInterval(sweep, SWEEP_MS).unref();
  });

  const front: Front = {
    closeIdle() {
      for (const c of connections) c.closeIfIdle();
    },
    closeAll() {
      for (const c of connections) c.destroy();
    },
    size: () => connections.size,
  };
  // server.close() and graceful shutdown (index.ts) close node:http's idle and remaining connections with
  // these two: the front's own connections are closed with them.
  const closeIdle = server.closeIdleConnections.bind(server);
  const closeAll = server.closeAllConnections.bind(server);
  server.closeIdleConnections = () => {
    closeIdle();
    front.closeIdle();
  };
  server.closeAllConnections = () => {
    closeAll();
    front.closeAll();
  };
  return front;
}

interface ConnectionContext {
  opts: FrontOptions;
  handOff(c: FrontConnection, socket: Socket): void;
  forget(c: FrontConnection): void;
}

class FrontConnection implements FrontResponseOwner {
  /** Bytes received and not yet served: the start of the next request. */
  private buf: Buffer | undefined;
  /** Bytes received while a response is in flight, in arrival order (joined by joinQueued). */
  private queued: Buffer[] = [];
  private queuedBytes = 0;
  private current: FrontResponse | undefined;
  private served = 0;
  private idleSince = performance.now();
  private gone = false;
  private readonly onData = (chunk: Buffer) => this.received(chunk);
  private readonly onDrain = () => this.current?.drained();
  private readonly onClose = () => this.closed();
  private readonly onError = () => this.socket.destroy();
  private readonly onEnd = () => {
    if (this.current !== undefined) {
      // A FIN while a request is being served: the client is gone, as node:http has it (its socketOnEnd ends
      // the connection and the response in flight goes nowhere). Closed at once: the socket's 'close' releases
      // the exchange (its channel, and a slot of any per-host limit) now rather than at the response deadline,
      // and a client that keeps its side open unread cannot hold a socket nothing tracks any more.
      this.socket.destroy();
      return;
    }
    this.stop(true);
    this.socket.end();
  };

  constructor(
    private readonly socket: Socket,
    private readonly ctx: ConnectionContext,
  ) {
    socket.on("data", this.onData);
    socket.on("drain", this.onDrain);
    socket.on("close", this.onClose);
    socket.on("error", this.onError);
    socket.on("end", this.onEnd);
  }

  checkIdle(now: number): void {
    if (this.current !== undefined || this.gone) return;
    const limit = this.served === 0 ? this.ctx.opts.headersTimeoutMs : this.ctx.opts.server.keepAliveTimeout;
    if (limit <= 0 || now - this.idleSince < limit) return;
    if (this.served === 0)
      this.ctx.opts.logger.debug("closing a connection that sent no request within the headers timeout");
    this.destroy();
  }

  closeIfIdle(): void {
    if (this.current === undefined) this.destroy();
  }

  destroy(): void {
    this.socket.destroy();
  }

  finished(res: FrontResponse, last: boolean): void {
    if (res !== this.current) return;
    this.current = undefined;
    this.served++;
    this.idleSince = performance.now();
    if (last) {
      this.stop(true);
      // Closed once the end is flushed, as node:http does (destroySoon): the connection is no longer tracked
      // here, so a client that keeps its side open must not keep the socket (test/proxy/front-audit-close).
      this.socket.destroySoon();
      return;
    }
    this.joinQueued();
    if (this.socket.isPaused()) this.socket.resume();
    if (this.buf !== undefined) this.next();
  }

  private received(chunk: Buffer): void {
    if (this.current !== undefined) {
      // Pipelined: served after the current response. Bounded. Kept as a list and joined once, when the
      // response is over: a Buffer.concat per read copied everything so far each time (quadratic in the
      // number of reads: ~0.25 s for 64 KB sent a byte at a time).
      this.queued.push(chunk);
      this.queuedBytes += chunk.length;
      if ((this.buf?.length ?? 0) + this.queuedBytes > MAX_PIPELINED_BYTES) this.socket.pause();
      return;
    }
    this.buf = this.buf === undefined ? chunk : Buffer.concat([this.buf, chunk]);
    this.next();
  }

  /** Joins the bytes that arrived during the last response to what is left of the buffer. */
  private joinQueued(): void {
    if (this.queued.length === 0) return;
    const parts = this.buf === undefined ? this.queued : [this.buf, ...this.queued];
    this.buf =
      parts.length === 1 ? parts[0] : Buffer.concat(parts, (this.buf?.length ?? 0) + this.queuedBytes);
    this.queued = [];
    this.queuedBytes = 0;
  }

  private next(): void {
    const buf = this.buf as Buffer;
    const head = parseFrontHead(buf);
    if (head === INCOMPLETE || head === HAND_OFF) {
      this.ctx.opts.logger.debug(
        { served: this.served, reason: head === INCOMPLETE ? "incomplete head" : "not the front's grammar" },
        "front: connection handed to node:http",
      );
      this.handOff();
      return;
    }
    this.buf = head.length === buf.length ? undefined : buf.subarray(head.length);
    const res = new FrontResponse(
      this.socket,
      this,
      head.method === "HEAD",
      this.ctx.opts.server.keepAliveTimeout,
    );
    this.current = res;
    this.ctx.opts.handle(new FrontRequest(head), res);
  }

  /** Gives the socket to node:http with the unserved bytes (this request's first byte onwards) in front. */
  private handOff(): void {
    const socket = this.socket;
    const rest = this.buf;
    this.buf = undefined;
    this.stop(false);
    this.ctx.handOff(this, socket);
    // node:http's listener consumes the socket's handle (its parser reads the handle directly) and listens
    // for 'data' on the stream, which it resumes: the bytes put back here are read from the stream first, in
    // this tick's nextTick queue, before the event loop reads the handle again.
    if (rest !== undefined) socket.unshift(rest);
    if (socket.isPaused()) socket.resume();
  }

  /** Stops listening: the socket is node:http's, or is closing (`closing`: errors still need a listener). */
  private stop(closing: boolean): void {
    if (this.gone) return;
    this.gone = true;
    const socket = this.socket;
    socket.off("data", this.onData);
    socket.off("drain", this.onDrain);
    socket.off("close", this.onClose);
    socket.off("error", this.onError);
    socket.off("end", this.onEnd);
    // Errors after the stop (a reset while the last response is flushed) must not be unhandled.
    if (closing) socket.on("error", () => socket.destroy());
    this.ctx.forget(this);
  }

  private closed(): void {
    const res = this.current;
    this.current = undefined;
    this.stop(true);
    res?.socketClosed();
  }
}
