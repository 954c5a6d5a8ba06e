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
import { setChannelHandler } from "./channel-sink.js";
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
import { endToEndHeaders } from "./hop-by-hop.js";
import { MalformedResponseError, type ResponseHead, ResponseReader } from "./response-reader.js";
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

/**
 * Sends the request over an idle channel (or a fresh one), streams the response to `res`, and resolves once
 * the client has the whole response; a channel whose response ended cleanly goes back to the idle list.
 * Rejects with a ProxyError; after the response head was sent, the caller destroys `res` (a silently short
 * body would be parsed as a complete scrape).
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
): Promise<void> {
  return new Promise<void>((resolve, reject) => {
    // Without a body, a request can be sent again (RFC 9112 §9.3.1 for idempotent methods).
    const canReplay = plan.body.kind === "none" && (plan.method === "GET" || plan.method === "HEAD");
    const requestBytes = requestHead(plan, path);
    const isHead = plan.method === "HEAD";
    let channel: ClientChannel | undefined;
    let detach: (() => void) | undefined;
    let timer: Expiring | undefined;
    let settled = false;
    let requestSent = false;

    via.idle.inFlight++;
    const finish = (err?: unknown) => {
      if (settled) return;
      settled = true;
      via.idle.inFlight--;
      if (timer) responseDeadlines.remove(timer);
      client.onGone = undefined;
      detach?.();
      if (err) {
        // A half-read response must never be reused: the channel goes. ssh2 emits a channel's 'close' only after
        // its 'end', which a paused channel (backpressure) with unread data never reaches: drain it.
        channel?.destroy();
        channel?.resume();
        reject(err);
      } else resolve();
    };
    client.onGone = () => finish(new ClientGoneError());

    const armTimer = () => {
      if (timer !== undefined) return;
      const now = Date.now();
      const budget = deadline.remaining(now);
      timer = {
        at: now + budget,
        onExpire: () =>
          finish(new TimeoutError("upstream-response", `waiting for the response from ${target}`, budget)),
      };
      responseDeadlines.add(timer);
    };

    const use = (ch: ClientChannel, reused: boolean) => {
      channel = ch;
      armTimer();
      let responded = false;
      let failed = false;
      let bodyBytes = 0;
      let finalHead: ResponseHead | undefined;
      const reader = new ResponseReader(
        {
          head: (h: ResponseHead) => {
            responded = true;
            finalHead = h;
            if (maxBytes !== undefined && h.contentLength !== undefined && h.contentLength > maxBytes) {
              finish(new ResponseTooLargeError(target, maxBytes));
              return false;
            }
            res.sendDate = false;
            const headers = endToEndHeaders(h.rawHeaders);
            if (h.reason) res.writeHead(h.status, h.reason, headers);
            else res.writeHead(h.status, headers);
            return true;
          },
          body: (bytes: Buffer) => {
            bodyBytes += bytes.length;
            // Headers are gone already: failing the response (socket destroyed) is the only honest answer;
            // the chunk that crosses the limit is never forwarded.
            if (maxBytes !== undefined && bodyBytes > maxBytes) {
              res.destroy();
              finish(new ResponseTooLargeError(target, maxBytes));
              return false;
            }
            if (!res.write(bytes) && res.writableLength > MAX_BUFFERED_BYTES) {
              ch.pause();
              res.once("drain", onDrain);
            }
            return true;
          },
        },
        isHead,
      );

      const onDrain = () => ch.resume();
      const complete = (leftover: number) => {
        detach?.();
        detach = undefined;
        channel = undefined;
        // Reused only when the response ended where its framing said, nothing followed it, the exporter did not
        // ask to close, and the request was sent completely.
        if (finalHead?.keepAlive && leftover === 0 && requestSent && !reader.closeDelimited) {
          ch.resume();
          via.idle.put(ch, finalHead.keepAliveHintMs);
        } else {
          ch.close();
          ch.resume(); // drain anything left, or ssh2 never emits 'close' (see finish)
        }
        res.once("finish", () => finish());
        res.end();
      };
      const onData = (data: Buffer) => {
        let leftover: number;
        try {
          leftover = reader.push(data);
        } catch (e) {
          finish(e instanceof MalformedResponseError ? new UpstreamError(target, e) : e);
          return;
        }
        if (leftover >= 0 && !settled && reader.done) complete(leftover);
        else if (!settled) nudge.more(); // more of the response is due (ack-nudge.ts)
      };
      const nudge = new AckNudge(ch, () => !settled && channel === ch && !reader.done);

      const fail = (err: Error) => {
        if (settled || failed) return;
        failed = true;
        detach?.();
        detach = undefined;
        // ssh2 closes a dead connection's channels before it marks the connection closed: look a turn later.
        setImmediate(() => {
          if (settled) return;
          const lost = via.connectionLost(ch);
          // An idle channel can be closed by the exporter (its keep-alive timeout) just as we reuse it: send
          // once more on a fresh channel rather than fail the scrape. Not when the SSH connection itself died:
          // reconnecting at once would hit a server that is restarting and put the host into backoff.
          if (!responded && reused && canReplay && !lost && reader.untouched) {
            ch.destroy();
            ch.resume();
            channel = undefined;
            fresh();
            return;
          }
          if (lost) finish(new SshConnectionLostError(via.connectionName(ch) ?? "?", target, err));
          else finish(new UpstreamError(target, err));
        });
      };
      const onEnd = () => {
        if (reader.closeDelimited) {
          complete(0);
          return;
        }
        fail(
          new Error(
            responded ? "the response closed before its end" : "the channel closed before a response",
          ),
        );
      };
      const onClose = () => onEnd();
      const onError = (err: Error) => fail(err);
      setChannelHandler(ch, { data: onData, end: onEnd, close: onClose, error: onError });
      detach = () => {
        nudge.stop();
        setChannelHandler(ch, undefined);
        res.off("drain", onDrain);
      };

      corkForThisTurn(ch);
      ch.write(requestBytes);
      if (plan.body.kind === "none") {
        // Whatever the client still sends is never read as part of this request (framing.ts).
        requestSent = true;
        req.resume();
      } else
        sendBody(
          req,
          ch,
          plan.body.kind === "chunked",
          () => {
            requestSent = true;
          },
          (err) => finish(new UpstreamError(target, err)),
        );
    };

    const fresh = () => {
      via.openChannel().then(
        (ch) => {
          // The client went away while the channel was being opened: keep the clean channel for the next one.
          if (settled) via.idle.put(ch);
          else use(ch, false);
        },
        (err: unknown) => finish(err instanceof ProxyError ? err : new UpstreamError(target, err)),
      );
    };

    const idle = via.idle.take();
    if (idle) use(idle, true);
    else fresh();
  });
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
