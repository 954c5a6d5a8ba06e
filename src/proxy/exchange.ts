/**
 * One HTTP exchange with an exporter over a channel (an idle keep-alive one, or a fresh one): the request as
 * the framing decision planned it (framing.ts), and the response streamed back untouched apart from the
 * hop-by-hop headers (Content-Encoding and the body are passed as they are; nothing is buffered).
 */
import {
  type Agent,
  type ClientRequest,
  request as httpRequest,
  type IncomingMessage,
  type ServerResponse,
} from "node:http";
import { pipeline } from "node:stream";
import type { ClientChannel } from "ssh2";
import type { Deadline } from "./deadline.js";
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
import type { ChannelRequestArgs } from "./upstream.js";

/** Where an exchange gets its channel: an idle one of the agent, or a fresh one from the pool. */
export interface Upstream {
  agent: Agent;
  openChannel: ChannelRequestArgs["openChannel"];
  connectionLost: (channel: ClientChannel) => boolean;
  connectionName: (channel: ClientChannel) => string | undefined;
}

/** Whether a request's client went away, and what its exchange does then. */
export interface ClientSide {
  gone: boolean;
  onGone?: (() => void) | undefined;
}

/**
 * One HTTP exchange over a channel (an idle keep-alive one, or a fresh one): request and response stream
 * through untouched apart from the hop-by-hop headers (Content-Encoding and the body are passed as they are;
 * nothing is buffered).
 */
export function exchange(
  req: IncomingMessage,
  res: ServerResponse,
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
        method: plan.method,
        path,
        // The framing decision's header fields, framing header included: node:http frames the body by them.
        headers: plan.headers,
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
      if (plan.body.kind === "none") {
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
