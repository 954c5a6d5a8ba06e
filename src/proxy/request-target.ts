/**
 * Request targets (RFC 9112 §3.2): absolute-form for plain HTTP, authority-form for CONNECT, reduced to one
 * canonical host so the allowlist compares like with like.
 *
 * The authority is parsed here by hand, on purpose. WHATWG `new URL()` (which Node implements) is built to
 * be forgiving: it rewrites `127.1`, `0x7f.0.0.1`, `0177.0.0.1` and `2130706433` to `127.0.0.1`, decodes
 * `%31%32%37.0.0.1`, treats `\` as `/`, and strips userinfo into a field that is easy to ignore. Every one
 * of those rewrites lets a request spell an address the allowlist never saw — the classic open-relay bypass.
 * A proxy gains nothing from leniency (Prometheus sends plain `http://host:port/path`), so anything that is
 * not already in plain form is refused with 400 instead of being guessed at.
 */
import { isIPv6 } from "node:net";
import { hostKind } from "../config/host.js";
import { ProxyError } from "./proxy-error.js";

export interface RequestTarget {
  host: string;
  port: number;
  /** path + query in origin-form, always starting with "/". */
  path: string;
  scheme: "http";
}

/** The request target cannot be used: malformed, disallowed form, or too long (414). */
export class RequestTargetError extends ProxyError {
  readonly code = "BAD_REQUEST_TARGET";
  readonly status: 400 | 403 | 414;
  constructor(message: string, status: 400 | 403 | 414 = 400) {
    super(message);
    this.status = status;
  }
}

/** Longest request target accepted; longer ones get 414 (RFC 9112 §3: servers must bound it). */
export const MAX_TARGET_LENGTH = 8192;

// RFC 3986 §3.1: scheme = ALPHA *( ALPHA / DIGIT / "+" / "-" / "." ), case-insensitive.
const SCHEME = /^([A-Za-z][A-Za-z0-9+.-]*):/;
// Visible US-ASCII only. Node's parser already refuses most control bytes; this is the last word.
const VISIBLE_ASCII = /^[\x21-\x7e]*$/;
const DOTTED_QUAD = /^(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)(?:\.(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)){3}$/;
// WHATWG's "ends in a number" rule: such a host is parsed as IPv4, so only a strict dotted quad is allowed.
const NUMERIC_LABEL = /^(?:\d+|0x[0-9a-f]*)$/;

/**
 * Authorities of absolute-form targets already parsed, exactly as sent, to their canonical host and port.
 * Prometheus asks for the same few targets again and again; parsing one (and, for a DNS name, three
 * RegExps of hostKind) was a few percent of the proxy's CPU per request (docs/benchmarks.md, "Fixed cost per
 * request"). Only authorities that passed are kept, so a refused one is refused again, with its message.
 */
const authorities = new Map<string, { readonly host: string; readonly port: number }>();
/** Clients choose the targets: the cache is dropped when it reaches this size. */
const MAX_CACHED_AUTHORITIES = 4096;

/** Absolute-form GET/HEAD/POST target → canonical host, port (default 80), origin-form path. */
export function parseAbsoluteTarget(url: string): RequestTarget {
  checkLength(url);
  const shown = show(url);
  if (!VISIBLE_ASCII.test(url))
    fail(`request target ${shown} contains spaces, control or non-ASCII characters`);
  const scheme = SCHEME.exec(url)?.[1]?.toLowerCase();
  if (scheme === undefined)
    fail(`request target ${shown} is not absolute-form (expected http://HOST:PORT/PATH)`);
  if (scheme === "https")
    fail(`https targets go through CONNECT (set scheme: https in Prometheus), not as ${shown}`);
  if (scheme !== "http") fail(`unsupported scheme "${scheme}" in ${shown}; only http is proxied`);
  const rest = url.slice(scheme.length + 1);
  if (!rest.startsWith("//"))
    fail(`request target ${shown} has no authority (expected http://HOST:PORT/PATH)`);
  if (url.includes("#")) fail(`request target ${shown} contains a fragment (#), which clients never send`);

  const afterSlashes = rest.slice(2);
  const end = afterSlashes.search(/[/?]/);
  const authority = end === -1 ? afterSlashes : afterSlashes.slice(0, end);
  const tail = end === -1 ? "" : afterSlashes.slice(end);
  let hostPort = authorities.get(authority);
  if (hostPort === undefined) {
    hostPort = parseAuthority(authority, shown, 80);
    if (authorities.size >= MAX_CACHED_AUTHORITIES) authorities.clear();
    authorities.set(authority, hostPort);
  }
  const { host, port } = hostPort;
  const path = tail === "" ? "/" : tail.startsWith("?") ? `/${tail}` : tail;
  return { host, port, path, scheme: "http" };
}

/** CONNECT authority-form "host:port" (port required). */
export function parseConnectTarget(authority: string): { host: string; port: number } {
  checkLength(authority);
  const shown = show(authority);
  if (!VISIBLE_ASCII.test(authority))
    fail(`CONNECT target ${shown} contains spaces, control or non-ASCII characters`);
  // RFC 9110 §9.3.6: CONNECT takes only uri-host ":" port — no scheme, path, query or fragment.
  if (/[/?#]/.test(authority)) fail(`CONNECT target ${shown} must be HOST:PORT, without scheme or path`);
  return parseAuthority(authority, shown, undefined);
}

/**
 * Canonical form of a host as it appears in a URI authority (brackets already removed for IPv6):
 * lower case, no trailing dot, IPv4 only as a strict dotted quad, IPv6 in RFC 5952 form, IPv4-mapped IPv6
 * as its IPv4 address. Throws RequestTargetError for anything else.
 */
export function canonicalHost(host: string, bracketed = host.includes(":")): string {
  const shown = show(host);
  if (bracketed) {
    if (!isIPv6(host)) fail(`"[${host}]" is not an IPv6 address`);
    return canonicalIPv6(host);
  }
  let h = host.toLowerCase();
  if (h.endsWith(".")) h = h.slice(0, -1);
  if (h === "") fail("empty host");
  const labels = h.split(".");
  if (NUMERIC_LABEL.test(labels[labels.length - 1] as string)) {
    if (!DOTTED_QUAD.test(h))
      refuse(
        `host ${shown} is not a dotted-quad IPv4 address; shorthand, octal, hex and integer forms are refused`,
      );
    return h;
  }
  // hostKind() tolerates one trailing dot; a second one ("h..") is not a name, so it must not pass as "h.".
  if (h.endsWith(".") || hostKind(h) !== "dns") fail(`host ${shown} is not a valid DNS name or IP address`);
  return h;
}

function parseAuthority(
  authority: string,
  shown: string,
  defaultPort: number | undefined,
): { host: string; port: number } {
  if (authority.includes("@"))
    refuse(`request target ${shown} contains userinfo (user@host), which a proxy target must not have`);
  if (authority.includes("%")) refuse(`request target ${shown} contains percent-encoding in the host`);
  if (authority.includes("\\")) refuse(`request target ${shown} contains a backslash in the host`);

  let hostText: string;
  let portText: string | undefined;
  let bracketed = false;
  if (authority.startsWith("[")) {
    const close = authority.indexOf("]");
    if (close === -1) fail(`request target ${shown} has an unterminated "[" in the host`);
    hostText = authority.slice(1, close);
    bracketed = true;
    const after = authority.slice(close + 1);
    if (after !== "") {
      if (!after.startsWith(":")) fail(`request target ${shown} has text after "]" that is not :PORT`);
      portText = after.slice(1);
    }
  } else {
    const colon = authority.indexOf(":");
    if (colon !== authority.lastIndexOf(":"))
      fail(
        `request target ${shown} has more than one ":"; IPv6 addresses must be in brackets, e.g. [::1]:9100`,
      );
    hostText = colon === -1 ? authority : authority.slice(0, colon);
    portText = colon === -1 ? undefined : authority.slice(colon + 1);
  }
  if (hostText === "") fail(`request target ${shown} has an empty host`);

  let port: number;
  if (portText === undefined) {
    if (defaultPort === undefined) fail(`CONNECT target ${shown} needs a port (HOST:PORT)`);
    port = defaultPort;
  } else {
    if (!/^\d{1,5}$/.test(portText)) fail(`request target ${shown} has a bad port "${portText}"`);
    port = Number(portText);
    if (port < 1 || port > 65535) fail(`request target ${shown} has port ${port}; expected 1–65535`);
  }
  return { host: canonicalHost(hostText, bracketed), port };
}

/** RFC 5952 §4: lower-case hex, no leading zeros, the first longest run (≥ 2) of zero groups as "::". */
function canonicalIPv6(text: string): string {
  const groups = ipv6Groups(text);
  // RFC 4291 §2.5.5.2 IPv4-mapped: the socket reaches the IPv4 host, so it must be judged as that host.
  if (groups.slice(0, 5).every((g) => g === 0) && groups[5] === 0xffff) {
    const [hi, lo] = [groups[6] as number, groups[7] as number];
    return `${hi >> 8}.${hi & 0xff}.${lo >> 8}.${lo & 0xff}`;
  }
  let bestStart = -1;
  let bestLen = 1;
  for (let i = 0; i < 8; ) {
    if (groups[i] !== 0) {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && groups[j] === 0) j++;
    if (j - i > bestLen) {
      bestStart = i;
      bestLen = j - i;
    }
    i = j;
  }
  const hex = groups.map((g) => g.toString(16));
  if (bestStart === -1) return hex.join(":");
  return `${hex.slice(0, bestStart).join(":")}::${hex.slice(bestStart + bestLen).join(":")}`;
}

/** Eight 16-bit groups of an address that `net.isIPv6` accepted (no zone id: "%" is refused earlier). */
function ipv6Groups(text: string): number[] {
  let t = text.toLowerCase();
  const tail: number[] = [];
  const lastColon = t.lastIndexOf(":");
  if (t.slice(lastColon + 1).includes(".")) {
    // Embedded IPv4 in the last 32 bits (RFC 4291 §2.2 form 3).
    const [a, b, c, d] = t
      .slice(lastColon + 1)
      .split(".")
      .map(Number) as [number, number, number, number];
    tail.push((a << 8) | b, (c << 8) | d);
    t = t.slice(0, lastColon + 1);
    if (!t.endsWith("::")) t = t.slice(0, -1);
  }
  const parse = (s: string) => (s === "" ? [] : s.split(":").map((g) => Number.parseInt(g, 16)));
  if (!t.includes("::")) return [...parse(t), ...tail];
  const [head, rest] = t.split("::") as [string, string];
  const left = parse(head);
  const right = [...parse(rest), ...tail];
  return [...left, ...new Array<number>(8 - left.length - right.length).fill(0), ...right];
}

function checkLength(target: string): void {
  if (target.length > MAX_TARGET_LENGTH)
    fail(`request target is ${target.length} bytes; the limit is ${MAX_TARGET_LENGTH}`, 414);
}

/** Quoted and cut short: targets are attacker-controlled and end up in response bodies and logs. */
function show(text: string): string {
  return JSON.stringify(text.length > 200 ? `${text.slice(0, 200)}…` : text);
}

function fail(message: string, status: 400 | 414 = 400): never {
  throw new RequestTargetError(message, status);
}

/**
 * Spellings that only serve to dress one host up as another (userinfo, percent-encoding, backslashes,
 * IPv4 shorthand): open-relay probes, answered 403 like any other target the allowlist refuses.
 */
function refuse(message: string): never {
  throw new RequestTargetError(`not allowed: ${message}`, 403);
}
