/**
 * One HTTP exchange with an exporter over a direct-tcpip channel, without node:http's client: the request
 * goes out exactly as the framing decision planned it (framing.ts: header fields, Host and framing header
 * included), and the response's bytes are passed to the client's ServerResponse as they arrive, after reading
 * only the framing that says where the response ends (src/proxy/response-reader.ts).
 *
 * node:http's client (ClientRequest, Agent, IncomingMessage, a second HTTP parser) cost about a fifth of the
 * proxy's CPU per scrape (docs/benchmarks.md, "The relay").
 */
import type { OutgoingHttpHeaders } from "node:http";
import type { ClientChannel } from "ssh2";
import { AckNudge } from "./ack-nudge.js";
import { type ChannelHandler, setChannelHandler } from "./channel-sink.js";
import { type Deadline, DeadlineTimers, type Expiring } from "./deadline.js";
import {
  ClientGoneError,
  ProxyError,
  ResponseTooLargeError,
  SshConnectionLostError,
  TimeoutError,
  UpstreamError,
} from "./errors.js";
import type { ForwardPlan } from "./framing.js";
import {
  MalformedResponseError,
  type ResponseEvents,
  type ResponseHead,
  ResponseReader,
} from "./response-reader.js";
import { corkForThisTurn } from "./ssh-cork.js";
import type { IdleChannels } from "./upstream.js";

/** Where an exchange gets its channel: an idle one, or a fresh one from the pool. */
export interface Upstream {
  idle: IdleChannels;
  openChannel: () => Promise<ClientChannel>;
  connectionLost: (channel: ClientChannel) => boolean;
  connectionName: (channel: ClientChannel) => string | undefined;
}

/**
 * Where a response goes: node:http's ServerResponse, or the raw front's FrontResponse (front-response.ts),
 * which writes the same bytes for these calls. Only what the exchange and the error writers use.
 */
export interface ResponseSink {
  readonly headersSent: boolean;
  readonly destroyed: boolean;
  readonly writableLength: number;
  readonly writableFinished: boolean;
  statusCode: number;
  sendDate: boolean;
  writeHead(status: number, reason: string, headers?: OutgoingHttpHeaders | string[]): this;
  writeHead(status: number, headers?: OutgoingHttpHeaders | string[]): this;
  write(chunk: Buffer): boolean;
  end(body?: string): this;
  destroy(): this;
  on(event: "close", listener: () => void): this;
  once(event: "close" | "drain" | "finish", listener: () => void): this;
  off(event: "drain", listener: () => void): this;
}

/** A request's body as the exchange reads it (IncomingMessage; the front's requests have none). */
export interface RequestBody {
  resume(): unknown;
  pause(): unknown;
  on(event: "data", listener: (chunk: Buffer) => void): unknown;
  once(event: "end", listener: () => void): unknown;
  once(event: "error", listener: (err: Error) => void): unknown;
}

/** Whether a request's client went away, and what its exchange does then. */
export interface ClientSide {
  gone: boolean;
  onGone?: (() => void) | undefined;
}

/** The request head as the framing decision planned it: its header fields, nothing added or dropped. */
function requestHead(plan: ForwardPlan, path: string): Buffer {
  let text = `${plan.method} ${path} HTTP/1.1\r\n`;
  const h = plan.headers;
  for (let i = 0; i + 1 < h.length; i += 2) text += `${h[i]}: ${h[i + 1]}\r\n`;
  return Buffer.from(`${text}\r\n`, "latin1");
}

/**
 * Response bytes buffered for a slow client before the channel is paused. node:http's write() says "full" at
 * the socket's 16 KB high-water mark, i.e. after every 32 KB SSH packet; pausing there (and resuming a tick
 * later on 'drain') sent each packet of one socket read in its own write.
 */
const MAX_BUFFERED_BYTES = 256 * 1024;

/** The response deadlines of every exchange in flight, on one Timeout. */
const responseDeadlines = new DeadlineTimers();

/** How an exchange ends: without an argument once the client has the whole response, else with the error. */
export type ExchangeDone = (err?: unknown) => void;

/**
 * Sends the request over an idle channel (or a fresh one), streams the response to `res`, and calls `done()`
 * once the client has the whole response; a channel whose response ended cleanly goes back to the idle list.
 * Calls `done(err)` with a ProxyError otherwise. The exporter's head is handed to `res` (writeHead) only with
 * the first body bytes or the end of the response: until then `res.headersSent` is false and the caller answers
 * the error itself (502 / 504), since nothing of the response has left; after it, the caller destroys `res` (a
 * silently short body would be parsed as a complete scrape). `done` is called once, synchronously from the
 * event that ends the exchange.
 */
export function exchange(
  req: RequestBody,
  res: ResponseSink,
  plan: ForwardPlan,
  via: Upstream,
  target: string,
  path: string,
  deadline: Deadline,
  client: ClientSide,
  maxBytes: number | undefined,
  done: ExchangeDone,
): void {
  new Exchange(req, res, plan, via, target, path, deadline, client, maxBytes, done).start();
}

/**
 * One exchange's state, as one object whose methods are its event handlers (the channel's, the response
 * reader's, the deadline's). It was a function of ~15 closures and a Promise per scrape: a few KB of garbage
 * per scrape, and what was in flight during a scavenge had to be copied (docs/benchmarks.md, "Garbage per
 * scrape").
 */
class Exchange implements ChannelHandler, ResponseEvents, Expiring {
  /** The response deadline (Expiring: the shared DeadlineTimers fires onExpire at it). */
  at = 0;
  deadlinePrev: Expiring | undefined = undefined;
  deadlineNext: Expiring | undefined = undefined;
  private budget = 0;
  private armed = false;
  private settled = false;
  private requestSent = false;
  /** The channel the current response is read from; undefined once it is complete or handed back. */
  private channel: ClientChannel | undefined;
  /** The channel whose events come here (setChannelHandler), until detach(). */
  private attached: ClientChannel | undefined;
  /** Per channel used (a replay on a fresh channel starts over). */
  private reused = false;
  private responded = false;
  /** The exporter's head was handed to `res` (see sendHead). */
  private headOut = false;
  private failed = false;
  private bodyBytes = 0;
  private finalHead: ResponseHead | undefined;
  private reader: ResponseReader | undefined;
  private nudge: AckNudge | undefined;
  private onDrain: (() => void) | undefined;
  private readonly canReplay: boolean;
  private readonly isHead: boolean;

  constructor(
    private readonly req: RequestBody,
    private readonly res: ResponseSink,
    private readonly plan: ForwardPlan,
    private readonly via: Upstream,
    private readonly target: string,
    private readonly path: string,
    private readonly deadline: Deadline,
    private readonly client: ClientSide,
    private readonly maxBytes: number | undefined,
    private readonly done: ExchangeDone,
  ) {
    // Without a body, a request can be sent again (RFC 9112 §9.3.1 for idempotent methods).
    this.canReplay = plan.body.kind === "none" && (plan.method === "GET" || plan.method === "HEAD");
    this.isHead = plan.method === "HEAD";
  }

  start(): void {
    this.via.idle.inFlight++;
    this.client.onGone = this.clientGone;
    const idle = this.via.idle.take();
    if (idle) this.use(idle, true);
    else this.fresh();
  }

  private readonly clientGone = (): void => this.finish(new ClientGoneError());

  private finish(err?: unknown): void {
    if (this.settled) return;
    this.settled = true;
    this.via.idle.inFlight--;
    if (this.armed) responseDeadlines.remove(this);
    this.client.onGone = undefined;
    this.detach();
    if (err) {
      // A half-read response must never be reused: the channel goes. ssh2 emits a channel's 'close' only after
      // its 'end', which a paused channel (backpressure) with unread data never reaches: drain it.
      this.channel?.destroy();
      this.channel?.resume();
      this.done(err);
    } else this.done();
  }

  onExpire(): void {
    this.finish(
      new TimeoutError("upstream-response", `waiting for the response from ${this.target}`, this.budget),
    );
  }

  private armTimer(): void {
    if (this.armed) return;
    const now = Date.now();
    this.budget = this.deadline.remaining(now);
    this.at = now + this.budget;
    this.armed = true;
    responseDeadlines.add(this);
  }

  private use(ch: ClientChannel, reused: boolean): void {
    this.channel = ch;
    this.reused = reused;
    this.armTimer();
    this.responded = false;
    this.headOut = false;
    this.failed = false;
    this.bodyBytes = 0;
    this.finalHead = undefined;
    this.reader = new ResponseReader(this, this.isHead);
    this.nudge = new AckNudge(ch, () => !this.settled && this.channel === ch && !this.reader?.done);
    setChannelHandler(ch, this);
    this.attached = ch;

    corkForThisTurn(ch);
    ch.write(requestHead(this.plan, this.path));
    if (this.plan.body.kind === "none") {
      // Whatever the client still sends is never read as part of this request (framing.ts).
      this.requestSent = true;
      this.req.resume();
    } else
      sendBody(
        this.req,
        ch,
        this.plan.body.kind === "chunked",
        () => {
          this.requestSent = true;
        },
        (err) => this.finish(new UpstreamError(this.target, err)),
      );
  }

  private detach(): void {
    const ch = this.attached;
    if (ch === undefined) return;
    this.attached = undefined;
    this.nudge?.stop();
    setChannelHandler(ch, undefined);
    if (this.onDrain !== undefined) this.res.off("drain", this.onDrain);
  }

  private fresh(): void {
    this.via.openChannel().then(
      (ch) => {
        // The client went away while the channel was being opened: keep the clean channel for the next one.
        if (this.settled) this.via.idle.put(ch);
        else this.use(ch, false);
      },
      (err: unknown) => this.finish(err instanceof ProxyError ? err : new UpstreamError(this.target, err)),
    );
  }

  // ResponseEvents (response-reader.ts)

  head(h: ResponseHead): boolean {
    this.responded = true;
    this.finalHead = h;
    const maxBytes = this.maxBytes;
    if (maxBytes !== undefined && h.contentLength !== undefined && h.contentLength > maxBytes) {
      this.finish(new ResponseTooLargeError(this.target, maxBytes));
      return false;
    }
    return true;
  }

  /**
   * Hands the exporter's head to `res`, with the first body bytes or at the end of the response (both
   * ServerResponse and FrontResponse write a head only with what follows it). Until then a failure is answered
   * with the proxy's own error response: nothing of the exporter's has left (docs/proxy.md, "Failed
   * responses").
   */
  private sendHead(): void {
    this.headOut = true;
    const h = this.finalHead as ResponseHead;
    const res = this.res;
    res.sendDate = false;
    const headers = h.endToEnd;
    if (h.reason) res.writeHead(h.status, h.reason, headers);
    else res.writeHead(h.status, headers);
  }

  body(bytes: Buffer): boolean {
    this.bodyBytes += bytes.length;
    // The chunk that crosses the limit is never forwarded. The caller answers 502 if the head has not been
    // handed over yet, and fails the response (destroys it) if it has: a silently short body would be parsed
    // as a complete scrape.
    const maxBytes = this.maxBytes;
    if (maxBytes !== undefined && this.bodyBytes > maxBytes) {
      this.finish(new ResponseTooLargeError(this.target, maxBytes));
      return false;
    }
    if (!this.headOut) this.sendHead();
    const res = this.res;
    if (!res.write(bytes) && res.writableLength > MAX_BUFFERED_BYTES) {
      const ch = this.channel as ClientChannel;
      ch.pause();
      this.onDrain ??= () => this.channel?.resume();
      res.once("drain", this.onDrain);
    }
    return true;
  }

  // ChannelHandler (channel-sink.ts). `data` is also the channel's data short cut, called without `this`.

  readonly data = (chunk: Buffer): void => {
    const reader = this.reader as ResponseReader;
    let leftover: number;
    try {
      leftover = reader.push(chunk);
    } catch (e) {
      this.finish(e instanceof MalformedResponseError ? new UpstreamError(this.target, e) : e);
      return;
    }
    if (leftover >= 0 && !this.settled && reader.done) this.complete(leftover);
    else if (!this.settled) this.nudge?.more(); // more of the response is due (ack-nudge.ts)
  };

  end(): void {
    if (this.reader?.closeDelimited) {
      this.complete(0);
      return;
    }
    this.fail(
      new Error(
        this.responded ? "the response closed before its end" : "the channel closed before a response",
      ),
    );
  }

  close(): void {
    this.end();
  }

  error(err: Error): void {
    this.fail(err);
  }

  private complete(leftover: number): void {
    const ch = this.channel as ClientChannel;
    this.detach();
    this.channel = undefined;
    // Reused only when the response ended where its framing said, nothing followed it, the exporter did not
    // ask to close, and the request was sent completely.
    const head = this.finalHead;
    if (head?.keepAlive && leftover === 0 && this.requestSent && !this.reader?.closeDelimited) {
      ch.resume();
      this.via.idle.put(ch, head.keepAliveHintMs);
    } else {
      ch.close();
      ch.resume(); // drain anything left, or ssh2 never emits 'close' (see finish)
    }
    if (!this.headOut) this.sendHead();
    this.res.once("finish", this.finished);
    this.res.end();
  }

  private readonly finished = (): void => this.finish();

  private fail(err: Error): void {
    if (this.settled || this.failed) return;
    this.failed = true;
    const ch = this.channel as ClientChannel;
    this.detach();
    // ssh2 closes a dead connection's channels before it marks the connection closed: look a turn later.
    setImmediate(() => {
      if (this.settled) return;
      const lost = this.via.connectionLost(ch);
      // An idle channel can be closed by the exporter (its keep-alive timeout) just as we reuse it: send once
      // more on a fresh channel rather than fail the scrape. Not when the SSH connection itself died:
      // reconnecting at once would hit a server that is restarting and put the host into backoff.
      if (!this.responded && this.reused && this.canReplay && !lost && this.reader?.untouched) {
        ch.destroy();
        ch.resume();
        this.channel = undefined;
        this.fresh();
        return;
      }
      if (lost) this.finish(new SshConnectionLostError(this.via.connectionName(ch) ?? "?", this.target, err));
      else this.finish(new UpstreamError(this.target, err));
    });
  }
}

/** Streams a request body to the channel with backpressure, chunk-encoded when its length is unknown. */
function sendBody(
  req: RequestBody,
  ch: ClientChannel,
  chunked: boolean,
  done: () => void,
  failed: (err: Error) => void,
): void {
  req.on("data", (chunk: Buffer) => {
    if (chunk.length === 0) return; // a zero-size chunk would end a chunked body
    const ok = chunked
      ? ch.write(Buffer.concat([Buffer.from(`${chunk.length.toString(16)}\r\n`), chunk, Buffer.from("\r\n")]))
      : ch.write(chunk);
    if (!ok) {
      req.pause();
      ch.once("drain", () => req.resume());
    }
  });
  req.once("end", () => {
    if (chunked) ch.write("0\r\n\r\n");
    done();
  });
  req.once("error", failed);
}
