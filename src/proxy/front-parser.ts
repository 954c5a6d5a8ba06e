/**
 * The raw front's request-head grammar (front.ts): deliberately narrow, so that everything it accepts is a
 * request node:http would accept and read the same way, and everything else is handed to node:http.
 *
 *   request-line = ( "GET" / "HEAD" ) SP "http://" target-chars SP "HTTP/1.1" CRLF
 *   header-line  = token ":" OWS *( VCHAR / SP / HTAB ) OWS CRLF        (no obs-text, no obs-fold)
 *   head         = request-line *header-line CRLF                       (at most MAX_FRONT_HEAD_BYTES)
 *
 * and, beyond the grammar, nothing that needs node:http's judgement about framing or the connection: a Host
 * field (node:http answers 400 without one), no Content-Length, Transfer-Encoding, Expect, Upgrade, TE or
 * Trailer, Connection / Proxy-Connection only `keep-alive`, no header name twice (node:http merges or drops duplicates by name; Host twice is a 400 there). A head that is
 * not complete in the bytes received so far is not waited for here either: node:http's headers timeout, 431
 * and 400 apply to it (docs/security.md, "The raw front").
 */
import type { IncomingHttpHeaders } from "node:http";

/**
 * Longest head served by the front; longer ones go to node:http, whose limit (MAX_HEADER_BYTES, 16 KB) then
 * decides. Half of it, so that no head node:http would count as too large (it counts differently) is served
 * here. Prometheus' requests are a few hundred bytes.
 */
export const MAX_FRONT_HEAD_BYTES = 8 * 1024;
/** node:http drops header lines beyond server.maxHeadersCount (2 000); far fewer are served here. */
const MAX_FRONT_HEADER_LINES = 64;

/** A request head the front serves itself. */
export interface FrontHead {
  method: "GET" | "HEAD";
  /** The absolute-form target as sent (`http://host:port/path?query`). */
  url: string;
  rawHeaders: string[];
  /** Lower-cased name → value, every name once (as IncomingMessage.headers for such a request). */
  headers: IncomingHttpHeaders;
  /** Bytes of the head, CRLF CRLF included: where the next request starts. */
  length: number;
}

/** Not enough bytes for a whole head: the front hands the connection to node:http. */
export const INCOMPLETE = 0;
/** Something node:http must judge: the front hands the connection to node:http. */
export const HAND_OFF = 1;

// Characters of RFC 3986 URIs only (node's parser accepts more; those go to it).
const REQUEST_LINE = /^(GET|HEAD) (http:\/\/[A-Za-z0-9\-._~!$&'()*+,;=:@/?%[\]]+) HTTP\/1\.1$/;
// One pass, no overlapping runs (linear time): OWS is trimmed from the value afterwards. A pattern with
// `[ \t]*` around a value that may itself hold spaces backtracks cubically on a long whitespace run ending in
// a byte outside the grammar (test/proxy/front-audit-redos.test.ts).
const HEADER_LINE = /^([!#$%&'*+\-.^_`|~0-9A-Za-z]+):([\t\x20-\x7e]*)$/;

interface Line {
  readonly name: string;
  readonly value: string;
  readonly lower: string;
}

/** Names whose presence needs node:http: framing, interim responses, protocol switches. */
const NOT_HERE = new Set(["content-length", "transfer-encoding", "expect", "upgrade", "te", "trailer"]);

/**
 * Heads already parsed, exactly as received, to what was read from them. Prometheus sends the same head for
 * every scrape of a target (target, User-Agent, Accept, scrape timeout, credentials); parsing it again was
 * about a tenth of the front's CPU per request in a profile (docs/benchmarks.md, "Raw front"). Only heads the
 * front serves are kept, of at most MAX_CACHED_HEAD_LENGTH bytes and MAX_CACHED_HEAD_LINES lines, at most
 * MAX_CACHED_HEAD_BYTES of them in all (dropped when full: clients choose what they send), so the cache stays
 * within a few MB whatever is sent (~1 KB per target for Prometheus). A cached head's arrays and object are
 * shared by every request that sent it, so they are frozen.
 */
const heads = new Map<string, FrontHead>();
let cachedBytes = 0;
const MAX_CACHED_HEAD_BYTES = 2 * 1024 * 1024;
const MAX_CACHED_HEAD_LENGTH = 1024;
const MAX_CACHED_HEAD_LINES = 16;

function headerLine(text: string): Line | undefined {
  const m = HEADER_LINE.exec(text);
  if (m === null) return undefined;
  const name = m[1] as string;
  // The value holds only tab, space and visible ASCII, so trim() strips exactly OWS (spaces and tabs).
  return { name, value: (m[2] as string).trim(), lower: name.toLowerCase() };
}

/**
 * Reads one request head from the start of `buf`. Returns the head, INCOMPLETE when `buf` holds no whole
 * head (yet), or HAND_OFF for anything outside the grammar above.
 */
export function parseFrontHead(buf: Buffer): FrontHead | typeof INCOMPLETE | typeof HAND_OFF {
  const end = buf.indexOf("\r\n\r\n", 0, "latin1");
  if (end < 0) return buf.length >= MAX_FRONT_HEAD_BYTES ? HAND_OFF : INCOMPLETE;
  const length = end + 4;
  if (length > MAX_FRONT_HEAD_BYTES) return HAND_OFF;
  const text = buf.toString("latin1", 0, end);
  const known = heads.get(text);
  if (known !== undefined) return known;
  const head = parseText(text, length);
  if (
    head !== HAND_OFF &&
    text.length <= MAX_CACHED_HEAD_LENGTH &&
    head.rawHeaders.length <= 2 * MAX_CACHED_HEAD_LINES
  ) {
    if (cachedBytes + text.length > MAX_CACHED_HEAD_BYTES) {
      heads.clear();
      cachedBytes = 0;
    }
    heads.set(text, head);
    cachedBytes += text.length;
  }
  return head;
}

function parseText(text: string, length: number): FrontHead | typeof HAND_OFF {
  const parts = text.split("\r\n");
  if (parts.length - 1 > MAX_FRONT_HEADER_LINES) return HAND_OFF;
  const m = REQUEST_LINE.exec(parts[0] as string);
  if (m === null) return HAND_OFF;
  const rawHeaders: string[] = [];
  const headers: IncomingHttpHeaders = {};
  const bag = headers as Record<string, string>;
  for (let i = 1; i < parts.length; i++) {
    const line = headerLine(parts[i] as string);
    if (line === undefined || NOT_HERE.has(line.lower) || bag[line.lower] !== undefined) return HAND_OFF;
    if (
      (line.lower === "connection" || line.lower === "proxy-connection") &&
      line.value.toLowerCase() !== "keep-alive"
    )
      return HAND_OFF;
    bag[line.lower] = line.value;
    rawHeaders.push(line.name, line.value);
  }
  // node:http answers an HTTP/1.1 request without Host 400 itself (requireHostHeader).
  if (headers.host === undefined) return HAND_OFF;
  Object.freeze(rawHeaders);
  Object.freeze(headers);
  return Object.freeze({ method: m[1] as "GET" | "HEAD", url: m[2] as string, rawHeaders, headers, length });
}
