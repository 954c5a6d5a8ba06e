/**
 * Reads an exporter's HTTP/1.1 response (RFC 9112) from the bytes of a channel: the status line and header
 * fields, then only as much of the body framing as it takes to know where the response ends. Body bytes are
 * handed on as slices of the chunks that arrived, never copied or re-parsed.
 *
 * Strict by construction, because a channel is reused for the next scrape: a response whose end cannot be
 * known for sure (Content-Length and Transfer-Encoding together, differing Content-Lengths, a transfer coding
 * other than chunked, obs-fold, a malformed chunk) is an error, never passed through (RFC 9112 §6.3, §11.2).
 */

/** node:http's default limit for a header block; a longer one is an error, as with node:http's client. */
export const MAX_RESPONSE_HEAD_BYTES = 16 * 1024;
const MAX_CHUNK_LINE_BYTES = 4 * 1024;

import { connectionTokens, isHopByHop } from "./hop-by-hop.js";

export class MalformedResponseError extends Error {}

export interface ResponseHead {
  status: number;
  reason: string;
  /** HTTP/1.0 or HTTP/1.1 */
  minor: number;
  /** name, value, name, value, … in arrival order, as node:http's rawHeaders. */
  rawHeaders: string[];
  /**
   * rawHeaders without the hop-by-hop fields (hop-by-hop.ts `endToEndHeaders`): what is forwarded. The same
   * array as rawHeaders when there are none.
   */
  endToEnd: string[];
  /** Body length when framed by Content-Length; undefined for chunked or close-delimited bodies. */
  contentLength: number | undefined;
  /** Whether the channel may carry another request after this response (framing and Connection allow it). */
  keepAlive: boolean;
  /** `Keep-Alive: timeout=N`, in ms minus a second (as node:http's Agent reads it). */
  keepAliveHintMs: number | undefined;
}

export interface ResponseEvents {
  /** The final (non-1xx) response head. Return false to stop reading (the exchange is over). */
  head(head: ResponseHead): boolean;
  /** A slice of body bytes. Return false to stop reading. */
  body(bytes: Buffer): boolean;
}

enum State {
  Head,
  Length,
  ChunkSize,
  ChunkData,
  ChunkEnd,
  Trailers,
  UntilClose,
  Done,
}

const TOKEN = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;
// reason-phrase = *( HTAB / SP / VCHAR / obs-text ) (RFC 9112 §4): node:http would refuse to send anything else.
const STATUS_LINE = /^HTTP\/1\.([01]) ([1-9]\d\d)(?: ([\t\x20-\x7e\x80-\xff]*))?$/;
const HEX = /^[0-9A-Fa-f]{1,8}$/;
// Field values: visible characters, space and tab, obs-text (RFC 9110 §5.5); no CR, LF or NUL.
const FIELD_VALUE = /^[\t\x20-\x7e\x80-\xff]*$/;

export class ResponseReader {
  private state = State.Head;
  /** Bytes of a head, chunk-size line or trailer section not yet complete. */
  private pending: Buffer | undefined;
  private remaining = 0;
  private headFinal: ResponseHead | undefined;
  private trailerBytes = 0;
  /** Transfer-Encoding and Content-Length fields of the head just parsed (lower-cased name, value). */
  private framingFields: string[] | undefined;

  constructor(
    private readonly events: ResponseEvents,
    /** The request was HEAD: the response has no body whatever its headers say (RFC 9110 §9.3.2). */
    private readonly headRequest: boolean,
  ) {}

  /** True once the whole response has been read. */
  get done(): boolean {
    return this.state === State.Done;
  }

  /** True before the first byte of a (final or 1xx) response arrived. */
  get untouched(): boolean {
    return this.state === State.Head && this.pending === undefined && this.headFinal === undefined;
  }

  get closeDelimited(): boolean {
    return this.state === State.UntilClose;
  }

  /**
   * Feeds bytes in arrival order. Returns the number of bytes left over after the response ended (0 unless
   * the exporter sent more than one response's worth), or -1 when an event handler stopped the reading.
   * Throws MalformedResponseError.
   */
  push(data: Buffer): number {
    let p = 0;
    while (p < data.length) {
      switch (this.state) {
        case State.Head: {
          const r = this.readLines(data, p, "\r\n\r\n", MAX_RESPONSE_HEAD_BYTES, "response head");
          if (r === undefined) return 0;
          p = r.next;
          const head = parseHead(r.text);
          this.framingFields = lastFramingFields;
          if (head.status >= 100 && head.status < 200) {
            // 101 would switch protocols on a channel we are about to reuse; nothing here asks for it.
            if (head.status === 101) throw new MalformedResponseError("101 Switching Protocols");
            continue; // 100 Continue, 103 Early Hints: an interim response, the final one follows.
          }
          this.headFinal = head;
          this.state = this.framing(head);
          if (!this.events.head(head)) return -1;
          continue;
        }
        case State.Length:
        case State.ChunkData: {
          const n = Math.min(this.remaining, data.length - p);
          const slice = p === 0 && n === data.length ? data : data.subarray(p, p + n);
          p += n;
          this.remaining -= n;
          if (this.remaining === 0) this.state = this.state === State.Length ? State.Done : State.ChunkEnd;
          if (!this.events.body(slice)) return -1;
          continue;
        }
        case State.UntilClose: {
          const slice = p === 0 ? data : data.subarray(p);
          p = data.length;
          if (!this.events.body(slice)) return -1;
          continue;
        }
        case State.ChunkSize: {
          const r = this.readLines(data, p, "\r\n", MAX_CHUNK_LINE_BYTES, "chunk-size line");
          if (r === undefined) return 0;
          p = r.next;
          // chunk-size [ chunk-ext ] (RFC 9112 §7.1); extensions are ignored, as every recipient may.
          const semi = r.text.indexOf(";");
          const size = trimEndOws(semi < 0 ? r.text : r.text.slice(0, semi));
          if (!HEX.test(size)) throw new MalformedResponseError(`bad chunk size ${JSON.stringify(r.text)}`);
          this.remaining = Number.parseInt(size, 16);
          this.state = this.remaining === 0 ? State.Trailers : State.ChunkData;
          continue;
        }
        case State.ChunkEnd: {
          // The CRLF after chunk-data, possibly split across two reads.
          const want = this.remaining === 0 ? 13 : 10; // remaining reused: 0 = expect CR, 1 = expect LF
          if (data[p] !== want) throw new MalformedResponseError("chunk data not followed by CRLF");
          p++;
          if (want === 13) this.remaining = 1;
          else {
            this.remaining = 0;
            this.state = State.ChunkSize;
          }
          continue;
        }
        case State.Trailers: {
          // trailer-section CRLF: lines until an empty one. Trailers are not forwarded (nor were they before).
          const r = this.readLines(data, p, "\r\n", MAX_CHUNK_LINE_BYTES, "trailer line");
          if (r === undefined) return 0;
          p = r.next;
          this.trailerBytes += r.text.length + 2;
          if (this.trailerBytes > MAX_RESPONSE_HEAD_BYTES)
            throw new MalformedResponseError("trailers too long");
          if (r.text === "") this.state = State.Done;
          continue;
        }
        case State.Done:
          return data.length - p;
      }
    }
    return 0;
  }

  private framing(head: ResponseHead): State {
    if (this.headRequest || head.status === 204 || head.status === 304) {
      head.contentLength = undefined;
      return State.Done;
    }
    let te: string | undefined;
    let cl: string | undefined;
    // Transfer-Encoding and Content-Length fields, lower-cased name and value, in arrival order (parseHead).
    const raw = this.framingFields ?? NO_FIELDS;
    for (let i = 0; i < raw.length; i += 2) {
      const name = raw[i] as string;
      const value = (raw[i + 1] as string).trim();
      if (name === "transfer-encoding") te = te === undefined ? value : `${te}, ${value}`;
      else if (name === "content-length") {
        // A list of identical values is one length (RFC 9112 §6.3 item 5); anything else is ambiguous.
        for (const v of value.split(",")) {
          const t = v.trim();
          if (!/^\d{1,15}$/.test(t))
            throw new MalformedResponseError(`bad Content-Length ${JSON.stringify(value)}`);
          if (cl !== undefined && cl !== t) throw new MalformedResponseError("conflicting Content-Length");
          cl = t;
        }
      }
    }
    if (te !== undefined) {
      if (cl !== undefined) throw new MalformedResponseError("both Transfer-Encoding and Content-Length");
      if (te.toLowerCase() !== "chunked")
        throw new MalformedResponseError(`unsupported Transfer-Encoding ${JSON.stringify(te)}`);
      head.contentLength = undefined;
      return State.ChunkSize;
    }
    if (cl !== undefined) {
      head.contentLength = Number(cl);
      this.remaining = head.contentLength;
      return this.remaining === 0 ? State.Done : State.Length;
    }
    // Neither: the body runs until the exporter closes (RFC 9112 §6.3 item 8); the channel is not reused.
    head.keepAlive = false;
    head.contentLength = undefined;
    return State.UntilClose;
  }

  /**
   * Collects bytes up to and including `terminator` (which may arrive split across pushes). Returns the text
   * before the terminator and the offset after it, or undefined when more bytes are needed.
   */
  private readLines(
    data: Buffer,
    p: number,
    terminator: string,
    limit: number,
    what: string,
  ): { text: string; next: number } | undefined {
    const prev = this.pending;
    const buf = prev ? Buffer.concat([prev, data.subarray(p)]) : data;
    const from = prev ? 0 : p;
    const end = buf.indexOf(terminator, from, "latin1");
    if (end < 0 || end - from > limit) {
      if (buf.length - from > limit) throw new MalformedResponseError(`${what} longer than ${limit} bytes`);
      this.pending = prev ? buf : Buffer.from(data.subarray(p));
      return undefined;
    }
    this.pending = undefined;
    const text = buf.toString("latin1", from, end);
    // Offset in `data` just after the terminator.
    const next = prev ? p + end + terminator.length - prev.length : end + terminator.length;
    return { text, next };
  }
}

/**
 * `s` without leading and trailing spaces and tabs (OWS, RFC 9110 §5.6.3), in time linear in its length. A
 * RegExp such as `/[ \t]+$/` backtracks over every start of a run of spaces that is not at the end: an
 * exporter's 16 KB header line of spaces with one byte after them took ~175 ms of the proxy's only thread.
 */
export function trimOws(s: string): string {
  let start = 0;
  let end = s.length;
  while (start < end && (s.charCodeAt(start) === 0x20 || s.charCodeAt(start) === 0x09)) start++;
  while (end > start && (s.charCodeAt(end - 1) === 0x20 || s.charCodeAt(end - 1) === 0x09)) end--;
  return start === 0 && end === s.length ? s : s.slice(start, end);
}

/** `s` without trailing spaces and tabs, in linear time (see trimOws). */
export function trimEndOws(s: string): string {
  let end = s.length;
  while (end > 0 && (s.charCodeAt(end - 1) === 0x20 || s.charCodeAt(end - 1) === 0x09)) end--;
  return end === s.length ? s : s.slice(0, end);
}

interface HeaderLine {
  readonly name: string;
  readonly value: string;
  readonly lower: string;
  /** Hop-by-hop by its name (hop-by-hop.ts): never forwarded. */
  readonly hop: boolean;
  /** Connection only: the names it makes hop-by-hop (hop-by-hop.ts `connectionTokens`). */
  readonly named?: readonly string[];
  /** Connection only: whether it lists `close` / `keep-alive`. */
  readonly close?: boolean;
  readonly keepAliveToken?: boolean;
  /** Keep-Alive only: its `timeout=N` in ms minus a second (as node:http's Agent reads it). */
  readonly hintMs?: number | undefined;
}

/**
 * Header lines already checked, as received, with what the proxy reads from them. An exporter sends the same
 * lines in every response (only Date, and Content-Length for some, change), and checking each line (two
 * RegExps, a trim, a lower-casing) was a few percent of the proxy's CPU per request (docs/benchmarks.md,
 * "Fixed cost per request"); reading Connection and Keep-Alive and filtering hop-by-hop fields again was
 * garbage per scrape ("Garbage per scrape"). Only lines that passed are kept; the cache is bounded and dropped
 * when full, as exporters' lines are theirs to choose.
 */
const checkedLines = new Map<string, HeaderLine>();
const MAX_CHECKED_LINES = 64;
/**
 * Longer lines are checked every time. A cached line may keep its whole response head (≤ 16 KB) alive, as
 * V8 slices strings: at most 64 heads, 1 MB, for an exporter that sends nothing but long lines.
 */
const MAX_CHECKED_LINE_LENGTH = 256;

function headerLine(line: string): HeaderLine {
  const known = checkedLines.get(line);
  if (known !== undefined) return known;
  const colon = line.indexOf(":");
  const name = colon > 0 ? line.slice(0, colon) : "";
  // No obs-fold (a line starting with whitespace), no whitespace before the colon (RFC 9112 §5.1, §5.2).
  if (!TOKEN.test(name))
    throw new MalformedResponseError(`bad header line ${JSON.stringify(line.slice(0, 80))}`);
  const value = trimOws(line.slice(colon + 1));
  if (!FIELD_VALUE.test(value)) throw new MalformedResponseError(`bad value of header ${name}`);
  const lower = name.toLowerCase();
  let checked: HeaderLine;
  if (lower === "connection") {
    let close = false;
    let keepAliveToken = false;
    for (const t of value.toLowerCase().split(",")) {
      const token = t.trim();
      if (token === "close") close = true;
      else if (token === "keep-alive") keepAliveToken = true;
    }
    checked = { name, value, lower, hop: true, named: connectionTokens(value), close, keepAliveToken };
  } else if (lower === "keep-alive") {
    const hint = /(?:^|[,\s])timeout=(\d+)/i.exec(value);
    checked = { name, value, lower, hop: true, hintMs: hint ? Number(hint[1]) * 1000 - 1000 : undefined };
  } else checked = { name, value, lower, hop: isHopByHop(lower) };
  if (line.length <= MAX_CHECKED_LINE_LENGTH) {
    if (checkedLines.size >= MAX_CHECKED_LINES) checkedLines.clear();
    checkedLines.set(line, checked);
  }
  return checked;
}

/**
 * Transfer-Encoding and Content-Length fields (lower-cased name, value, in arrival order) of the head
 * parseHead returned last: ResponseReader reads it right after the call.
 */
let lastFramingFields: string[] | undefined;
const NO_FIELDS: readonly string[] = [];

interface StatusLine {
  readonly minor: number;
  readonly status: number;
  readonly reason: string;
}

/** Status lines already read, as received (an exporter sends one or two): the RegExp match was garbage. */
const statusLines = new Map<string, StatusLine>();
const MAX_STATUS_LINES = 16;

function statusLine(line: string): StatusLine {
  const known = statusLines.get(line);
  if (known !== undefined) return known;
  const m = STATUS_LINE.exec(line);
  if (!m) throw new MalformedResponseError(`bad status line ${JSON.stringify(line.slice(0, 80))}`);
  const parsed = { minor: Number(m[1]), status: Number(m[2]), reason: m[3] ?? "" };
  if (line.length <= MAX_CHECKED_LINE_LENGTH) {
    if (statusLines.size >= MAX_STATUS_LINES) statusLines.clear();
    statusLines.set(line, parsed);
  }
  return parsed;
}

function parseHead(text: string): ResponseHead {
  // The lines of `text.split("\r\n")`, one at a time (no array, no runtime call per head).
  let eol = text.indexOf("\r\n");
  const status = statusLine(eol < 0 ? text : text.slice(0, eol));
  const minor = status.minor;
  const rawHeaders: string[] = [];
  let keepAlive = minor === 1;
  let keepAliveHintMs: number | undefined;
  let hop = false;
  let connection = false;
  let framing: string[] | undefined;
  const checked: HeaderLine[] = [];
  while (eol >= 0) {
    const start = eol + 2;
    eol = text.indexOf("\r\n", start);
    const line = headerLine(eol < 0 ? text.slice(start) : text.slice(start, eol));
    const { name, value, lower } = line;
    rawHeaders.push(name, value);
    checked.push(line);
    if (line.hop) hop = true;
    if (lower === "connection") {
      connection = true;
      if (line.close) keepAlive = false;
      else if (line.keepAliveToken && minor === 0) keepAlive = true;
      // Both in one field: as before, the order of the tokens decided; read it again (rare).
      if (line.close && line.keepAliveToken) keepAlive = connectionKeepAlive(value, minor, keepAlive);
    } else if (lower === "keep-alive") {
      if (line.hintMs !== undefined) keepAliveHintMs = line.hintMs;
    } else if (lower === "transfer-encoding" || lower === "content-length") {
      framing ??= [];
      framing.push(lower, value);
    }
  }
  const head: ResponseHead = {
    status: status.status,
    reason: status.reason,
    minor,
    rawHeaders,
    endToEnd: hop ? endToEnd(rawHeaders, checked, connection) : rawHeaders,
    contentLength: undefined,
    keepAlive,
    keepAliveHintMs,
  };
  lastFramingFields = framing;
  return head;
}

/** What one Connection field's tokens, in order, make of `keepAlive` (close: no; keep-alive on HTTP/1.0: yes). */
function connectionKeepAlive(value: string, minor: number, keepAlive: boolean): boolean {
  let k = keepAlive;
  for (const t of value.toLowerCase().split(",")) {
    const token = t.trim();
    if (token === "close") k = false;
    else if (token === "keep-alive" && minor === 0) k = true;
  }
  return k;
}

/** rawHeaders without hop-by-hop fields and those a Connection field names (hop-by-hop.ts endToEndHeaders). */
function endToEnd(raw: string[], lines: HeaderLine[], connection: boolean): string[] {
  let named: Set<string> | undefined;
  if (connection)
    for (const l of lines) {
      if (l.named === undefined || l.named.length === 0) continue;
      named ??= new Set();
      for (const t of l.named) named.add(t);
    }
  const out: string[] = [];
  for (let i = 0; i < lines.length; i++) {
    const l = lines[i] as HeaderLine;
    if (l.hop || named?.has(l.lower)) continue;
    out.push(raw[2 * i] as string, raw[2 * i + 1] as string);
  }
  return out;
}
