/**
 * Hop-by-hop headers (RFC 9110 §7.6.1): they describe one connection, so a proxy must not forward them.
 * Proxy-Connection is not in the RFC but old clients still send it (RFC 9112 §9.6 notes it); Proxy-Authorization
 * is meant for this proxy only and must never reach the exporter.
 */
const HOP_BY_HOP = new Set([
  "connection",
  "keep-alive",
  "proxy-authenticate",
  "proxy-authorization",
  "proxy-connection",
  "te",
  "trailer",
  "transfer-encoding",
  "upgrade",
]);

/**
 * Never removed because Connection names them: they frame or route the message, and whoever sent
 * `Connection: Content-Length` wants the two sides of the proxy to disagree about where a message ends.
 * (Requests naming them are refused outright, framing.ts; this covers responses.)
 */
const NEVER_NAMED = new Set(["host", "content-length"]);

/** Header names listed in Connection (`Connection: close, X-Foo`) are hop-by-hop too (RFC 9110 §7.6.1). */
function connectionNamed(raw: string[]): Set<string> {
  const named = new Set<string>();
  for (let i = 0; i + 1 < raw.length; i += 2) {
    if ((raw[i] as string).toLowerCase() !== "connection") continue;
    for (const t of connectionTokens(raw[i + 1] as string)) named.add(t);
  }
  return named;
}

/** The names one Connection field's value makes hop-by-hop (lower case; never Host or Content-Length). */
export function connectionTokens(value: string): string[] {
  const out: string[] = [];
  for (const token of value.split(",")) {
    const t = token.trim().toLowerCase();
    if (t && !NEVER_NAMED.has(t)) out.push(t);
  }
  return out;
}

/**
 * Filters `rawHeaders` (name, value, name, value, … as node:http gives them, original case and order kept)
 * down to the end-to-end headers, as the same flat array.
 */
export function endToEndHeaders(raw: string[]): string[] {
  const named = connectionNamed(raw);
  const out: string[] = [];
  for (let i = 0; i + 1 < raw.length; i += 2) {
    const name = raw[i] as string;
    const lower = name.toLowerCase();
    if (HOP_BY_HOP.has(lower) || named.has(lower)) continue;
    out.push(name, raw[i + 1] as string);
  }
  return out;
}

export function isHopByHop(name: string): boolean {
  return HOP_BY_HOP.has(name.toLowerCase());
}
