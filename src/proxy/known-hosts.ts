/**
 * OpenSSH known_hosts, parsed and checked the way OpenSSH does it (sshd(8) "SSH_KNOWN_HOSTS FILE FORMAT",
 * hostfile.c, match.c), so a file that works for `ssh` works for the proxy and vice versa:
 *
 * - the looked-up name is `host` for port 22 and `[host]:port` otherwise (`put_host_port()`), lower case;
 * - a host field is a comma list of patterns with `*` and `?`, matched against that whole name (so
 *   `[*.example.org]:2222` and a bare `*` behave as in OpenSSH); `!pattern` that matches vetoes the line;
 * - `|1|salt|hmac` is one hashed name: HMAC-SHA1 keyed with the salt over the looked-up name;
 * - keys are compared as wire-format blobs, which is what ssh2's `hostVerifier` hands over.
 *
 * Deliberate differences, both stricter: a `@revoked` key is refused for every host, whatever host field
 * its line has (a leaked private key is leaked everywhere); `@cert-authority` lines are recorded but never
 * trusted, because ssh2 does not negotiate or verify host certificates.
 */
import { createHash, createHmac, timingSafeEqual } from "node:crypto";
import { readFileSync } from "node:fs";
import { joinHostPort, normalizeHost } from "../config/host.js";
import { SshscrapeError } from "../errors.js";

export type HostKeyVerdict =
  | { ok: true }
  | { ok: false; reason: "unknown" | "mismatch" | "revoked"; message: string };

/** The known_hosts file could not be read (missing, a directory, no permission). */
export class KnownHostsReadError extends SshscrapeError {
  readonly code = "KNOWN_HOSTS_UNREADABLE";
  override readonly exitCode = 2;
  constructor(
    readonly path: string,
    cause: NodeJS.ErrnoException,
  ) {
    super(`${path}: cannot read known_hosts: ${cause.code ?? cause.message}${readHint(cause.code)}`, {
      cause,
    });
  }
}

function readHint(code: string | undefined): string {
  if (code === "ENOENT")
    return " (no such file; collect the host keys with `sshscrape keyscan` or `ssh-keyscan -p PORT HOST`)";
  if (code === "EACCES") return " (permission denied; the proxy's user must be able to read it)";
  if (code === "EISDIR") return " (that is a directory; pass the file)";
  return "";
}

type Marker = "none" | "cert-authority" | "revoked";

interface Pattern {
  negated: boolean;
  /** Lower case; `*` and `?` are wildcards, every other character (including `[`, `]`, `:`) is literal. */
  glob: string;
}

type HostField = { kind: "hashed"; salt: Buffer; hmac: Buffer } | { kind: "patterns"; patterns: Pattern[] };

interface Entry {
  line: number;
  /** Where the line came from when not the known_hosts file: `targets[1].hostKeys[0] in hosts.yaml`. */
  origin?: string;
  marker: Marker;
  hosts: HostField;
  keyType: string;
  blob: Buffer;
}

// OpenSSH's HASH_MAGIC "|1|"; salt and digest are both SHA-1 sized (hostfile.c extract_salt()).
const HASH_PREFIX = "|1|";
const SHA1_LEN = 20;
const BASE64 = /^[A-Za-z0-9+/]+={0,2}$/;
const HAS_HOST_CACHE_MAX = 4096;
const MATCH_CACHE_MAX = 4096;

export class KnownHosts {
  readonly warnings: string[] = [];
  private readonly entries: Entry[] = [];
  private readonly hasHostCache = new Map<string, boolean>();
  /**
   * Lookups at fleet scale: every handshake asks for one name, and a scan of every line costs ~0.16 ms
   * for 2 000 plain lines, 0.37 ms for the scale lab's 125 lines of 16 names, and 5.3 ms for 2 000 hashed
   * lines (one HMAC-SHA1 per line) — as much as the handshake itself (docs/benchmarks-scale.md). Lines
   * whose host field is only literal names (what the generator and `ssh-keyscan` write) are indexed by
   * name; only lines with wildcards, negations or a hashed name are scanned, and each looked-up name's
   * matching lines are remembered (bounded, like hasHostCache: request hosts can be attacker-chosen), so a
   * host's reconnects and the reload re-check cost no scan. A hashed file still costs one HMAC per line for
   * each new name (precomputed HMAC pad states were no faster in node): prefer plain lines for big fleets.
   */
  private readonly byName = new Map<string, Entry[]>();
  private readonly scanned: Entry[] = [];
  private readonly revoked: Entry[] = [];
  private readonly matchCache = new Map<string, Entry[]>();

  private constructor(readonly source: string) {}

  /** Never throws on a bad line: records a warning ("FILE:LINE: …") and skips it. */
  static parse(text: string, source = "known_hosts"): KnownHosts {
    const kh = new KnownHosts(source);
    const lines = text.split("\n");
    for (let i = 0; i < lines.length; i++) {
      const problem = kh.parseLine((lines[i] as string).replace(/\r$/, ""), i + 1);
      if (problem) kh.warnings.push(`${source}:${i + 1}: ${problem}`);
    }
    return kh;
  }

  /**
   * The file's text plus lines made elsewhere (the target list's `hostKeys`), each remembering its origin,
   * so a verdict names the place the user has to edit rather than a line of a file it never came from.
   */
  static combine(
    text: string,
    source: string,
    extra: ReadonlyArray<{ line: string; origin: string }>,
  ): KnownHosts {
    const kh = KnownHosts.parse(text, source);
    for (const { line, origin } of extra) {
      const before = kh.entries.length;
      const problem = kh.parseLine(line, 0);
      if (problem) kh.warnings.push(`${origin}: ${problem}`);
      for (const e of kh.entries.slice(before)) e.origin = origin;
    }
    return kh;
  }

  /** Reads and parses; throws KnownHostsReadError naming the path. A missing file is an error. */
  static load(path: string): KnownHosts {
    return KnownHosts.parse(KnownHosts.read(path), path);
  }

  /** The file's text; throws KnownHostsReadError naming the path. */
  static read(path: string): string {
    try {
      return readFileSync(path, "utf8");
    } catch (err) {
      throw new KnownHostsReadError(path, err as NodeJS.ErrnoException);
    }
  }

  /** keyBlob = raw SSH wire-format public key (what ssh2's hostVerifier receives as a Buffer). */
  verify(host: string, port: number, keyBlob: Buffer): HostKeyVerdict {
    const name = lookupName(host, port);
    const revoked = this.revoked.find((e) => e.blob.equals(keyBlob));
    const matching = this.matching(name);
    const known = matching.filter((e) => e.marker === "none");
    if (!revoked && known.some((e) => e.blob.equals(keyBlob))) return { ok: true };

    const where = joinHostPort(normalizeHost(host), port);
    const offered = describeKey(keyBlob);
    if (revoked) {
      return {
        ok: false,
        reason: "revoked",
        message: `host key for ${where} is marked @revoked (${offered}, ${this.whereIs(revoked)}); refusing to connect`,
      };
    }

    if (known.length > 0) {
      const listed = known.map((e) => `${describeKey(e.blob)} (${this.whereIs(e)})`).join(", ");
      const fixes = [
        ...new Set(
          known.map((e) =>
            e.origin
              ? `run \`sshscrape keyscan ${e.origin.replace(/^.* in /, "")} --update\` or edit ${e.origin.replace(/\[\d+\] in /, " in ")}, then restart the proxy`
              : `remove the old entry (ssh-keygen -R '${name}' -f ${this.source}) and add the new key`,
          ),
        ),
      ];
      return {
        ok: false,
        reason: "mismatch",
        message:
          `host key mismatch for ${where}: the server offered ${offered} but ${known.some((e) => !e.origin) ? "known_hosts" : "the target list"} lists ${listed}; ` +
          `this may be an attack — if the key change is expected (check the new fingerprint out of band), ` +
          fixes.join("; or "),
      };
    }

    const ca = matching.filter((e) => e.marker === "cert-authority");
    if (ca.length > 0) {
      const lines = ca.map((e) => `${this.source}:${e.line}`).join(", ");
      return {
        ok: false,
        reason: "unknown",
        message:
          `no known_hosts entry for ${where}: only @cert-authority entries match (${lines}), and ssh2 cannot ` +
          `verify host certificates; add the host's plain key (ssh-keyscan -p ${port} ${normalizeHost(host)}) ` +
          `to ${this.source}`,
      };
    }

    return {
      ok: false,
      reason: "unknown",
      message:
        `no known_hosts entry for ${where} (looked up as "${name}" in ${this.source}); ` +
        `add its key with \`sshscrape keyscan\` or ssh-keyscan -p ${port} ${normalizeHost(host)}`,
    };
  }

  /** The lines whose host field matches `name` (any marker but @revoked), in file order. */
  private matching(name: string): Entry[] {
    const cached = this.matchCache.get(name);
    if (cached) return cached;
    const indexed = this.byName.get(name) ?? [];
    const scanned = this.scanned.filter((e) => matchHostField(e.hosts, name) === "match");
    const found =
      scanned.length === 0
        ? indexed
        : indexed.length === 0
          ? scanned
          : [...indexed, ...scanned].sort((a, b) => this.entries.indexOf(a) - this.entries.indexOf(b));
    if (this.matchCache.size >= MATCH_CACHE_MAX) this.matchCache.clear();
    this.matchCache.set(name, found);
    return found;
  }

  /** Files the entry where lookups find it: @revoked apart, literal names in the index, the rest scanned. */
  private add(entry: Entry): void {
    this.entries.push(entry);
    this.matchCache.clear();
    this.hasHostCache.clear();
    if (entry.marker === "revoked") {
      this.revoked.push(entry);
      return;
    }
    const h = entry.hosts;
    if (h.kind === "patterns" && h.patterns.every((p) => !p.negated && !/[*?]/.test(p.glob))) {
      for (const name of new Set(h.patterns.map((p) => p.glob))) {
        const list = this.byName.get(name);
        if (list) list.push(entry);
        else this.byName.set(name, [entry]);
      }
    } else this.scanned.push(entry);
  }

  /** `FILE:LINE` for a known_hosts line, the list entry for one made from `hostKeys`. */
  private whereIs(e: Entry): string {
    return e.origin ?? `${this.source}:${e.line}`;
  }

  /** True when some non-revoked, non-negated entry names host:port (used by sshified-compatible mode). */
  hasHost(host: string, port: number): boolean {
    const name = lookupName(host, port);
    const cached = this.hasHostCache.get(name);
    if (cached !== undefined) return cached;
    const found = this.trusted(name).length > 0;
    // Request hosts are attacker-chosen in sshified-compatible mode: bound the cache instead of growing it.
    if (this.hasHostCache.size >= HAS_HOST_CACHE_MAX) this.hasHostCache.clear();
    this.hasHostCache.set(name, found);
    return found;
  }

  /** The key types known_hosts lists for host:port (not @revoked, not @cert-authority), in file order. */
  keyTypes(host: string, port: number): string[] {
    return [...new Set(this.trusted(lookupName(host, port)).map((e) => e.keyType))];
  }

  /** The plain key lines for `name` whose key is not @revoked anywhere. */
  private trusted(name: string): Entry[] {
    return this.matching(name).filter(
      (e) => e.marker === "none" && !this.revoked.some((r) => r.blob.equals(e.blob)),
    );
  }

  /** Returns a problem description for a line it skips, undefined for a good line or a comment. */
  private parseLine(raw: string, line: number): string | undefined {
    const text = raw.trim();
    if (text === "" || text.startsWith("#")) return undefined;
    const fields = text.split(/[ \t]+/);
    let marker: Marker = "none";
    if ((fields[0] as string).startsWith("@")) {
      const m = fields.shift() as string;
      if (m === "@cert-authority") marker = "cert-authority";
      else if (m === "@revoked") marker = "revoked";
      else return `unknown marker "${m}" (expected @cert-authority or @revoked); line ignored`;
    }
    const [hostText, keyType, keyData] = fields;
    if (!hostText) return "marker without host patterns or key; line ignored";
    if (!keyType || !keyData) return "expected HOSTS KEYTYPE BASE64KEY [COMMENT]; line ignored";
    if (/^\d+$/.test(keyType))
      return "SSH protocol 1 RSA key (bits exponent modulus) is not supported; line ignored";

    const hosts = parseHostField(hostText);
    if (typeof hosts === "string") return `${hosts}; line ignored`;

    if (!BASE64.test(keyData)) return `key data for ${keyType} is not base64; line ignored`;
    const blob = Buffer.from(keyData, "base64");
    const blobType = keyTypeOf(blob);
    if (blobType === undefined)
      return `key data for ${keyType} is truncated or not an SSH public key; line ignored`;
    if (blobType !== keyType)
      return `key type ${keyType} does not match the key data, which is ${blobType}; line ignored`;

    this.add({ line, marker, hosts, keyType, blob });
    if (marker === "cert-authority") {
      return (
        `@cert-authority ${hostText}: ssh2 cannot verify host certificates, so this CA is not trusted; ` +
        "hosts it covers are unknown until their plain host keys are added (ssh-keyscan -p PORT HOST)"
      );
    }
    return undefined;
  }
}

/** `host` for port 22, `[host]:port` otherwise, lower case: OpenSSH's put_host_port() as ssh looks it up. */
export function lookupName(host: string, port: number): string {
  const h = normalizeHost(host);
  return port === 22 ? h : `[${h}]:${port}`;
}

/** OpenSSH-style fingerprint: `SHA256:` + unpadded base64 of the SHA-256 of the key blob. */
export function fingerprint(keyBlob: Buffer): string {
  return `SHA256:${createHash("sha256").update(keyBlob).digest("base64").replace(/=+$/, "")}`;
}

function describeKey(blob: Buffer): string {
  return `${keyTypeOf(blob) ?? "unparsable key"} ${fingerprint(blob)}`;
}

/** The key type string that opens every SSH public key blob (RFC 4253 §6.6), if the blob has one. */
function keyTypeOf(blob: Buffer): string | undefined {
  if (blob.length < 4) return undefined;
  const len = blob.readUInt32BE(0);
  if (len === 0 || len > 64 || blob.length < 4 + len + 4) return undefined;
  const type = blob.subarray(4, 4 + len).toString("latin1");
  return /^[\x21-\x7e]+$/.test(type) ? type : undefined;
}

function parseHostField(text: string): HostField | string {
  if (text.startsWith("|")) {
    // A hashed field is a single name: OpenSSH compares the whole field (match_maybe_hashed()).
    if (!text.startsWith(HASH_PREFIX)) return `unsupported hashed host format "${text.slice(0, 3)}…"`;
    const parts = text.slice(HASH_PREFIX.length).split("|");
    const [saltText, hmacText] = parts;
    if (parts.length !== 2 || !saltText || !hmacText || !BASE64.test(saltText) || !BASE64.test(hmacText))
      return "malformed hashed host (expected |1|BASE64SALT|BASE64HASH)";
    const salt = Buffer.from(saltText, "base64");
    const hmac = Buffer.from(hmacText, "base64");
    if (salt.length !== SHA1_LEN || hmac.length !== SHA1_LEN)
      return "malformed hashed host (salt and hash must each be 20 bytes)";
    return { kind: "hashed", salt, hmac };
  }
  const patterns: Pattern[] = [];
  for (const item of text.toLowerCase().split(",")) {
    const negated = item.startsWith("!");
    const glob = negated ? item.slice(1) : item;
    if (glob !== "") patterns.push({ negated, glob });
  }
  if (!patterns.some((p) => !p.negated)) return `host field "${text}" has no positive pattern`;
  return { kind: "patterns", patterns };
}

/** match.c match_pattern_list(): any matching negated pattern vetoes, else any positive pattern matches. */
function matchHostField(field: HostField, name: string): "match" | "negated" | "none" {
  if (field.kind === "hashed") {
    const digest = createHmac("sha1", field.salt).update(name).digest();
    return timingSafeEqual(digest, field.hmac) ? "match" : "none";
  }
  let positive = false;
  for (const p of field.patterns) {
    if (!globMatch(name, p.glob)) continue;
    if (p.negated) return "negated";
    positive = true;
  }
  return positive ? "match" : "none";
}

/**
 * `*` = any run of characters, `?` = exactly one, everything else literal (match.c match_pattern()).
 * Iterative with a single backtrack point: linear-ish and without regex, so hostile patterns cannot blow up.
 */
export function globMatch(text: string, glob: string): boolean {
  let t = 0;
  let g = 0;
  let starG = -1;
  let starT = 0;
  while (t < text.length) {
    const c = glob[g];
    if (c === "*") {
      starG = g++;
      starT = t;
    } else if (c !== undefined && (c === "?" || c === text[t])) {
      g++;
      t++;
    } else if (starG >= 0) {
      g = starG + 1;
      t = ++starT;
    } else {
      return false;
    }
  }
  while (glob[g] === "*") g++;
  return g === glob.length;
}
