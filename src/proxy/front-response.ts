/**
 * A response written by the raw front (front.ts) straight to the client's socket, byte for byte what
 * node:http's ServerResponse writes for the same calls (lib/_http_outgoing.js `_storeHeader` in Node 20): the
 * status line, the given header fields in order, `Date` unless turned off or given, `Connection: keep-alive`
 * and `Keep-Alive: timeout=N` unless a Connection field is given, and `Transfer-Encoding: chunked` with
 * chunk-encoded writes when neither Content-Length nor Transfer-Encoding is given and the response has a body.
 * test/proxy/front-differential.test.ts compares the two.
 *
 * It implements only what the proxy's exchange and error writers use of a ServerResponse (ResponseSink).
 */
import { type OutgoingHttpHeaders, STATUS_CODES } from "node:http";
import type { Socket } from "node:net";
import type { ResponseSink } from "./exchange.js";

type Listener = () => void;

/** What the connection does once a response is over. */
export interface FrontResponseOwner {
  /** The whole response was handed to the socket and flushed (`last`: the connection must close after it). */
  finished(res: FrontResponse, last: boolean): void;
}

let dateCache: string | undefined;
let dateSecond = -1;
/** node:http's Date value, computed at most once a second as there. */
function utcDate(): string {
  const now = Date.now();
  const s = Math.floor(now / 1000);
  if (s !== dateSecond || dateCache === undefined) {
    dateSecond = s;
    dateCache = new Date(now).toUTCString();
  }
  return dateCache;
}

/**
 * Corks the socket until the end of this tick, as node:http's ServerResponse does on every write
 * (lib/_http_outgoing.js `write_`): the slices of one SSH read, and the end of the response, leave in one
 * writev.
 */
function corkForThisTick(socket: Socket): void {
  if (socket.writableCorked) return;
  socket.cork();
  process.nextTick(uncork, socket);
}

function uncork(socket: Socket): void {
  socket.uncork();
}

const TOKEN = /^[\^_`a-zA-Z\-0-9!#$%&'*+.|~]+$/;
const INVALID_VALUE = /[^\t\x20-\x7e\x80-\xff]/;

export class FrontResponse implements ResponseSink {
  statusCode = 200;
  sendDate = true;
  headersSent = false;
  writableFinished = false;
  private chunked = false;
  private hasBody: boolean;
  private last = false;
  private pendingHead: string | undefined;
  private ended = false;
  private closed = false;
  private drainListeners: Listener[] = [];
  private finishListeners: Listener[] = [];
  private closeListeners: Listener[] = [];

  constructor(
    private readonly socket: Socket,
    private readonly owner: FrontResponseOwner,
    head: boolean,
    /** server.keepAliveTimeout in ms (0: no Keep-Alive field). */
    private readonly keepAliveMs: number,
  ) {
    this.hasBody = !head;
  }

  get destroyed(): boolean {
    return this.socket.destroyed;
  }

  get writableLength(): number {
    return this.socket.writableLength;
  }

  writeHead(
    status: number,
    reason?: string | OutgoingHttpHeaders | string[],
    headers?: OutgoingHttpHeaders | string[],
  ): this {
    if (this.headersSent) throw new Error("front: head already written");
    let message: string;
    let fields: OutgoingHttpHeaders | string[] | undefined;
    if (typeof reason === "string") {
      message = reason;
      fields = headers;
    } else {
      message = STATUS_CODES[status] ?? "unknown";
      fields = reason;
    }
    if (INVALID_VALUE.test(message)) throw new Error("front: invalid status message");
    this.statusCode = status;
    if (status === 204 || status === 304 || (status >= 100 && status <= 199)) this.hasBody = false;
    let head = `HTTP/1.1 ${status} ${message}\r\n`;
    let connection = false;
    let contLen = false;
    let te = false;
    let date = false;
    const add = (name: string, value: string) => {
      if (!TOKEN.test(name)) throw new Error(`front: invalid header name ${JSON.stringify(name)}`);
      if (INVALID_VALUE.test(value)) throw new Error(`front: invalid value of header ${name}`);
      head += `${name}: ${value}\r\n`;
      const lower = name.length >= 4 && name.length <= 17 ? name.toLowerCase() : "";
      if (lower === "connection") {
        connection = true;
        if (/(?:^|\W)close(?:$|\W)/i.test(value)) this.last = true;
      } else if (lower === "content-length") contLen = true;
      else if (lower === "transfer-encoding") {
        te = true;
        if (/(?:^|\W)chunked(?:$|\W)/i.test(value)) this.chunked = true;
      } else if (lower === "date") date = true;
    };
    if (Array.isArray(fields)) {
      for (let i = 0; i + 1 < fields.length; i += 2) add(fields[i] as string, fields[i + 1] as string);
    } else if (fields) {
      for (const name of Object.keys(fields)) {
        const v = fields[name];
        if (v === undefined) continue;
        if (Array.isArray(v)) for (const one of v) add(name, String(one));
        else add(name, String(v));
      }
    }
    if (this.sendDate && !date) head += `Date: ${utcDate()}\r\n`;
    if (!connection) {
      head += "Connection: keep-alive\r\n";
      if (this.keepAliveMs) head += `Keep-Alive: timeout=${Math.floor(this.keepAliveMs / 1000)}\r\n`;
    }
    if (!contLen && !te) {
      if (!this.hasBody) this.chunked = false;
      else {
        head += "Transfer-Encoding: chunked\r\n";
        this.chunked = true;
      }
    }
    this.pendingHead = `${head}\r\n`;
    this.headersSent = true;
    return this;
  }

  /** Writes body bytes (ignored without a body, as node:http does); false when the socket's buffer is full. */
  write(chunk: Buffer): boolean {
    if (this.ended || this.socket.destroyed) return false;
    const socket = this.socket;
    corkForThisTick(socket);
    const head = this.takeHead();
    if (head !== undefined) socket.write(head, "latin1");
    if (!this.hasBody || chunk.length === 0) return socket.writableLength < socket.writableHighWaterMark;
    if (!this.chunked) return socket.write(chunk);
    socket.write(`${chunk.length.toString(16)}\r\n`, "latin1");
    socket.write(chunk);
    return socket.write("\r\n", "latin1");
  }

  /** Ends the response (with `body`, for the proxy's own small answers); 'finish' once it is flushed. */
  end(body?: string): this {
    if (this.ended) return this;
    if (!this.headersSent) this.writeHead(this.statusCode, {});
    this.ended = true;
    if (this.socket.destroyed) return this;
    const socket = this.socket;
    corkForThisTick(socket);
    // Heads are latin1 (as node:http writes them), the proxy's own messages UTF-8.
    const head = this.takeHead();
    if (head !== undefined) socket.write(head, "latin1");
    let tail = "";
    if (body !== undefined && body.length > 0 && this.hasBody) {
      if (this.chunked) tail += `${Buffer.byteLength(body).toString(16)}\r\n${body}\r\n`;
      else tail += body;
    }
    if (this.chunked) tail += "0\r\n\r\n";
    socket.write(tail, "utf8", (err?: Error | null) => {
      if (!err) this.onFlushed();
    });
    return this;
  }

  /**
   * Fails the response by closing the connection. What the exchange had already sent is flushed first:
   * whatever is corked in this tick (the head, body slices of the same SSH read), and the head if writeHead
   * stored it and nothing followed (the exchange hands its head over only with body bytes, and answers an
   * error instead before that: docs/proxy.md, "Failed responses"). The client then sees a response cut short
   * (a 200 whose body ends early), as when those bytes had left in an earlier tick; dropping them closed the
   * connection without any status line. With 1 MB SSH reads (ssh-read.ts) the head and the chunk that crosses
   * proxy.maxResponseBytes often arrive together.
   */
  destroy(): this {
    const socket = this.socket;
    if (!socket.destroyed) {
      const head = this.takeHead();
      if (head !== undefined) socket.write(head, "latin1");
      if (socket.writableCorked > 0) socket.uncork();
    }
    socket.destroy();
    return this;
  }

  on(event: "close", listener: Listener): this {
    return this.once(event, listener);
  }

  once(event: "close" | "drain" | "finish", listener: Listener): this {
    if (event === "drain") this.drainListeners.push(listener);
    else if (event === "finish") this.finishListeners.push(listener);
    else this.closeListeners.push(listener);
    return this;
  }

  off(_event: "drain", listener: Listener): this {
    const i = this.drainListeners.indexOf(listener);
    if (i >= 0) this.drainListeners.splice(i, 1);
    return this;
  }

  /** The socket drained (front.ts forwards its one 'drain' listener to the current response). */
  drained(): void {
    const listeners = this.drainListeners;
    if (listeners.length === 0) return;
    this.drainListeners = [];
    for (const l of listeners) l();
  }

  /** The socket closed: 'close' for a response that had not finished (the client is gone). */
  socketClosed(): void {
    this.emitClose();
  }

  private takeHead(): string | undefined {
    const head = this.pendingHead;
    this.pendingHead = undefined;
    return head;
  }

  private onFlushed(): void {
    if (this.closed) return;
    this.writableFinished = true;
    const finish = this.finishListeners;
    this.finishListeners = [];
    for (const l of finish) l();
    this.emitClose();
    this.owner.finished(this, this.last);
  }

  private emitClose(): void {
    if (this.closed) return;
    this.closed = true;
    const close = this.closeListeners;
    this.closeListeners = [];
    for (const l of close) l();
  }
}
