/**
 * Which host:port pairs the proxy will reach, default deny (issue #2 item 6): without it, anyone who can
 * reach the proxy can use every SSH login it holds to open connections anywhere those hosts can reach.
 *
 * Hosts are compared in the canonical form `canonicalHost()` produces for request targets, so a pattern and
 * a request can only meet when they name the same address the same way.
 */
import { isIPv4, isIPv6 } from "node:net";
import { normalizeHost } from "../config/host.js";
import { SshscrapeError } from "../errors.js";
import { globMatch } from "./known-hosts.js";
import { canonicalHost } from "./request-target.js";

/** A `proxy.allow` entry is not `HOST:PORT` (the schema checks this too; direct callers get this). */
export class AllowPatternError extends SshscrapeError {
  readonly code = "ALLOW_PATTERN_INVALID";
  override readonly exitCode = 2;
  constructor(readonly pattern: string) {
    super(
      `proxy.allow: "${pattern}" is not HOST:PORT; expected e.g. "*.example.org:9100", "10.0.0.*:*" or "[::1]:9100"`,
    );
  }
}

type HostMatcher =
  | { kind: "any" }
  | { kind: "exact"; host: string }
  | { kind: "dns" | "ipv4"; labels: string[] }
  | { kind: "ipv6"; glob: string };

interface CompiledPattern {
  host: HostMatcher;
  /** undefined = any port. */
  port: number | undefined;
}

const WILDCARD = /[*?]/;

export class Allowlist {
  private readonly exact = new Set<string>();
  private readonly patterns: CompiledPattern[];
  private readonly any: ((host: string, port: number) => boolean) | undefined;
  /** What the 403 tells the user to do; depends on the mode (target list or sshified's known_hosts). */
  readonly howToAllow: string | undefined;

  /** exact: host:port pairs of configured targets; patterns: proxy.allow entries ("*.example.org:9100",
   *  "10.0.0.*:*", "[::1]:9100"); any: extra predicate (sshified-compatible mode: knownHosts.hasHost). */
  constructor(opts: {
    exact: Array<{ host: string; port: number }>;
    patterns?: string[];
    any?: (host: string, port: number) => boolean;
    howToAllow?: string;
  }) {
    this.howToAllow = opts.howToAllow;
    for (const { host, port } of opts.exact) this.exact.add(key(canonicalOrNormal(host), port));
    this.patterns = (opts.patterns ?? []).map(compile);
    this.any = opts.any;
  }

  /** host already canonical (see request-target). */
  allows(host: string, port: number): boolean {
    const h = normalizeHost(host);
    if (this.exact.has(key(h, port))) return true;
    if (this.patterns.some((p) => (p.port === undefined || p.port === port) && matchHost(p.host, h)))
      return true;
    return this.any?.(h, port) ?? false;
  }
}

function key(host: string, port: number): string {
  return `${host}|${port}`;
}

/** Configured hosts passed the schema; canonicalising makes `::FFFF:10.0.0.1` or `Web1.` meet requests. */
function canonicalOrNormal(host: string): string {
  try {
    return canonicalHost(normalizeHost(host));
  } catch {
    // Not a host a request can ever canonicalise to, so it matches nothing either way.
    return normalizeHost(host);
  }
}

function compile(pattern: string): CompiledPattern {
  const m = /^(?:\[([^\]]+)\]|([^:[\]\s]+)):(\d{1,5}|\*)$/.exec(pattern.trim());
  if (!m) throw new AllowPatternError(pattern);
  const portText = m[3] as string;
  const port = portText === "*" ? undefined : Number(portText);
  if (port !== undefined && (port < 1 || port > 65535)) throw new AllowPatternError(pattern);
  const bracketed = m[1] !== undefined;
  let host = ((m[1] ?? m[2]) as string).toLowerCase();
  if (!bracketed && host.endsWith(".")) host = host.slice(0, -1);
  if (host === "") throw new AllowPatternError(pattern);
  return { host: compileHost(host, bracketed, pattern), port };
}

function compileHost(host: string, bracketed: boolean, pattern: string): HostMatcher {
  if (/^\*+$/.test(host)) return { kind: "any" };
  if (!WILDCARD.test(host)) {
    try {
      return { kind: "exact", host: canonicalHost(host, bracketed) };
    } catch {
      throw new AllowPatternError(pattern);
    }
  }
  // With wildcards the shape of the pattern decides the kind of address it may match, so "10.0.0.*"
  // never matches the DNS name "10.0.0.1.attacker.example" and "*.example.org" never matches an IP.
  if (bracketed) return { kind: "ipv6", glob: host };
  if (host.includes(":")) throw new AllowPatternError(pattern);
  const labels = host.split(".");
  if (/^[\d.*?]+$/.test(host)) {
    if (labels.length !== 4) throw new AllowPatternError(pattern);
    return { kind: "ipv4", labels };
  }
  return { kind: "dns", labels };
}

/** `*`/`?` stay within one DNS label or IPv4 octet: `*.example.org` matches `a.example.org` only. */
function matchHost(m: HostMatcher, host: string): boolean {
  switch (m.kind) {
    case "any":
      return true;
    case "exact":
      return m.host === host;
    case "ipv6":
      return isIPv6(host) && globMatch(host, m.glob);
    case "ipv4":
    case "dns": {
      if ((m.kind === "ipv4") !== isIPv4(host) || isIPv6(host)) return false;
      const labels = host.split(".");
      return labels.length === m.labels.length && labels.every((l, i) => globMatch(l, m.labels[i] as string));
    }
  }
}
