import { isIPv4, isIPv6 } from "node:net";

// RFC 1123 host names; underscores are tolerated because real internal zones use them.
const LABEL = "[a-zA-Z0-9_](?:[a-zA-Z0-9_-]{0,61}[a-zA-Z0-9_])?";
const DNS_NAME = new RegExp(`^(?=.{1,253}\\.?$)${LABEL}(?:\\.${LABEL})*\\.?$`);

export type HostKind = "dns" | "ipv4" | "ipv6";

/** What kind of host a string is, or undefined when it is none (IPv6 must be written without brackets). */
export function hostKind(host: string): HostKind | undefined {
  if (isIPv4(host)) return "ipv4";
  if (host.includes(":") && isIPv6(host)) return "ipv6";
  if (DNS_NAME.test(host) && !/^[\d.]+$/.test(host)) return "dns";
  return undefined;
}

/** `host:port` as URLs and Prometheus targets write it: IPv6 literals in brackets. */
export function joinHostPort(host: string, port: number): string {
  // Every IPv6 literal has a ":"; testing for it first skips net.isIPv6's long RegExp for names and IPv4.
  return host.includes(":") && isIPv6(host) ? `[${host}]:${port}` : `${host}:${port}`;
}

/** Canonical form used for comparisons: lower case, no trailing dot, no IPv6 brackets. */
export function normalizeHost(host: string): string {
  let h = host.trim().toLowerCase();
  if (h.startsWith("[") && h.endsWith("]")) h = h.slice(1, -1);
  if (h.endsWith(".")) h = h.slice(0, -1);
  return h;
}

/** Splits `host:port` / `[v6]:port`; undefined when the string has no valid port. */
export function splitHostPort(text: string): { host: string; port: number } | undefined {
  const m = /^(?:\[([^\]]+)\]|([^:[\]]+)):(\d{1,5})$/.exec(text);
  if (!m) return undefined;
  const port = Number(m[3]);
  if (port < 1 || port > 65535) return undefined;
  return { host: (m[1] ?? m[2]) as string, port };
}
