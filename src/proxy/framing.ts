/**
 * The one place that decides how a proxied request is framed before anything of it reaches an exporter.
 *
 * An exporter channel is reused for the next scrape (upstream.ts), so a request body the exporter reads as
 * something else — bytes the proxy forwarded without saying how long they are — becomes a second request on
 * that channel, and its answer goes to whoever sends next: Prometheus. This is request smuggling
 * (RFC 9112 §11.2). The rule here is to forward only what can be framed for sure, and to refuse the rest:
 *
 * - GET and HEAD carry no body (RFC 9110 §9.3.1–2: a body has no defined meaning there). Any
 *   Transfer-Encoding, or a Content-Length other than 0, is refused.
 * - Other methods are forwarded only to exporters that opt in (`extraMethods`); Prometheus only sends GET.
 * - Content-Length and Transfer-Encoding must each appear at most once, never both (RFC 9112 §6.1, §6.3:
 *   a message with both "ought to be handled as an error"), Content-Length must be plain digits, and the only
 *   transfer coding accepted is `chunked` alone (RFC 9112 §7: anything else cannot be decoded here).
 * - Connection must not name Host, Content-Length or Transfer-Encoding: dropping them as hop-by-hop
 *   (RFC 9110 §7.6.1) would strip the very headers that frame the message or route it.
 * - More than one Host is refused (RFC 9112 §3.2: a server MUST answer 400). The Host sent upstream is the
 *   request target's authority (RFC 9112 §3.2.2: a proxy replaces the received Host for absolute-form).
 *
 * The decision names the exact header fields to send and the framing of the body; the caller only streams
 * the decoded body under the framing header this decision wrote (exchange.ts: exactly N bytes, or chunks it
 * encodes itself), so it can never send it raw.
 */

import { BodyNotAllowedError, FramingError, MethodNotAllowedError } from "./errors.js";
import { isHopByHop } from "./hop-by-hop.js";
import type { ProxyError } from "./proxy-error.js";

/** What the framing decision reads of an incoming request (node:http's IncomingMessage has all of it). */
export interface IncomingHead {
  method?: string | undefined;
  httpVersion: string;
  /** name, value, name, value, … as received (node:http keeps duplicates and case here). */
  rawHeaders: string[];
}

/** How the forwarded body is framed. `none`: no body is sent, whatever the client still has is never read. */
export type BodyFraming = { kind: "none" } | { kind: "length"; length: number } | { kind: "chunked" };

export interface ForwardPlan {
  method: string;
  /** Exactly the header fields to send upstream (flat name/value list), Host and framing header included. */
  headers: string[];
  body: BodyFraming;
}

export type FramingDecision = { ok: true; plan: ForwardPlan } | { ok: false; error: ProxyError };

/** Methods every exporter gets: what Prometheus sends. */
export const DEFAULT_METHODS: ReadonlySet<string> = new Set(["GET", "HEAD"]);

const BODYLESS = new Set(["GET", "HEAD"]);

/** Headers whose removal through Connection would change how the message is framed or routed. */
const PROTECTED = new Set(["host", "content-length", "transfer-encoding"]);

/** Never forwarded as received: the proxy writes its own (Host, framing) or has answered them (Expect). */
const REWRITTEN = new Set(["host", "content-length", "transfer-encoding", "expect"]);

const DIGITS = /^\d{1,15}$/;

export interface FramingOptions {
  /** `host:port` of the request target, sent as Host. */
  authority: string;
  /** Methods beyond GET and HEAD this exporter accepts (its `extraMethods`). */
  extraMethods?: ReadonlySet<string> | undefined;
}

/**
 * Decides how `req` is forwarded, or why it is refused. Pure: reads only the request line and header
 * fields, so it runs before a channel is opened and before a byte of the body is read.
 */
export function decideFraming(req: IncomingHead, opts: FramingOptions): FramingDecision {
  const method = req.method ?? "";
  if (!DEFAULT_METHODS.has(method) && !opts.extraMethods?.has(method))
    return refuse(new MethodNotAllowedError(method, [...DEFAULT_METHODS, ...(opts.extraMethods ?? [])]));

  const raw = req.rawHeaders;
  const lengths: string[] = [];
  const codings: string[] = [];
  let hosts = 0;
  const named = new Set<string>();
  for (let i = 0; i + 1 < raw.length; i += 2) {
    const name = (raw[i] as string).toLowerCase();
    const value = raw[i + 1] as string;
    if (name === "content-length") lengths.push(value.trim());
    else if (name === "transfer-encoding") codings.push(value.trim());
    else if (name === "host") hosts++;
    else if (name === "connection" || name === "proxy-connection")
      for (const token of value.split(",")) named.add(token.trim().toLowerCase());
  }

  const removed = [...named].filter((n) => PROTECTED.has(n));
  if (removed.length > 0)
    return refuse(
      new FramingError(
        `Connection names ${removed.join(", ")}, which frames or routes the request and cannot be dropped`,
      ),
    );
  if (hosts > 1) return refuse(new FramingError(`${hosts} Host header fields; a request has exactly one`));
  if (lengths.length > 1)
    return refuse(
      new FramingError(`${lengths.length} Content-Length header fields; a request has at most one`),
    );
  if (codings.length > 1)
    return refuse(
      new FramingError(`${codings.length} Transfer-Encoding header fields; a request has at most one`),
    );
  const length = lengths[0];
  const coding = codings[0];
  if (length !== undefined && coding !== undefined)
    return refuse(
      new FramingError("both Content-Length and Transfer-Encoding; the body length is ambiguous"),
    );
  if (length !== undefined && !DIGITS.test(length))
    return refuse(new FramingError(`Content-Length ${JSON.stringify(length)} is not a plain number`));
  if (coding !== undefined && coding.toLowerCase() !== "chunked")
    return refuse(
      new FramingError(`Transfer-Encoding ${JSON.stringify(coding)}: only "chunked" alone is accepted`),
    );
  if (coding !== undefined && req.httpVersion === "1.0")
    return refuse(new FramingError("Transfer-Encoding in an HTTP/1.0 request (RFC 9112 §6.1)"));

  const declared = length === undefined ? 0 : Number(length);
  if (BODYLESS.has(method) && (coding !== undefined || declared > 0))
    return refuse(new BodyNotAllowedError(method));

  const body: BodyFraming =
    coding !== undefined
      ? { kind: "chunked" }
      : declared > 0
        ? { kind: "length", length: declared }
        : { kind: "none" };

  const headers: string[] = ["Host", opts.authority];
  for (let i = 0; i + 1 < raw.length; i += 2) {
    const name = raw[i] as string;
    const lower = name.toLowerCase();
    if (REWRITTEN.has(lower) || isHopByHop(lower) || named.has(lower)) continue;
    headers.push(name, raw[i + 1] as string);
  }
  if (body.kind === "chunked") headers.push("Transfer-Encoding", "chunked");
  else if (body.kind === "length") headers.push("Content-Length", String(body.length));
  // A method with a body but none sent says so, or node:http would pick a framing itself.
  else if (!BODYLESS.has(method)) headers.push("Content-Length", "0");
  return { ok: true, plan: { method, headers, body } };
}

function refuse(error: ProxyError): FramingDecision {
  return { ok: false, error };
}
