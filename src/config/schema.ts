/**
 * The target list: one file read by the generator (`sshscrape generate`) and by the proxy
 * (`sshscrape proxy --config`). Every object is strict (unknown keys are errors) and every message names
 * what was expected, because a user reads these as `FILE: targets[3].exporters[0].port: expected 1–65535`.
 */
import { createRequire } from "node:module";
import { z } from "zod";
import { isDuration } from "./duration.js";
import { hostKind, joinHostPort, normalizeHost } from "./host.js";
import { SYSTEM_KNOWN_HOSTS_FILE } from "./known-hosts-file.js";
import { queryString } from "./params.js";

// Unicode Cc: C0 controls, DEL and the C1 controls (U+0080–U+009F).
const CONTROL = /\p{Cc}/u;

/**
 * Invisible format characters (Unicode Cf: bidirectional overrides and isolates such as U+202E, zero-width
 * characters, U+FEFF, soft hyphen, …) and the line/paragraph separators U+2028/U+2029. In a generated Nix
 * file, a reviewed value could read differently from what it does (CVE-2021-42574, "Trojan Source").
 */
const FORMAT = /[\p{Cf}\p{Zl}\p{Zp}]/u;

/** Names of the format characters people meet; others are named by code point only. */
const FORMAT_NAMES: Record<number, string> = {
  173: "SOFT HYPHEN",
  8203: "ZERO WIDTH SPACE",
  8204: "ZERO WIDTH NON-JOINER",
  8205: "ZERO WIDTH JOINER",
  8206: "LEFT-TO-RIGHT MARK",
  8207: "RIGHT-TO-LEFT MARK",
  8232: "LINE SEPARATOR",
  8233: "PARAGRAPH SEPARATOR",
  8234: "LEFT-TO-RIGHT EMBEDDING",
  8235: "RIGHT-TO-LEFT EMBEDDING",
  8236: "POP DIRECTIONAL FORMATTING",
  8237: "LEFT-TO-RIGHT OVERRIDE",
  8238: "RIGHT-TO-LEFT OVERRIDE",
  8288: "WORD JOINER",
  8294: "LEFT-TO-RIGHT ISOLATE",
  8295: "RIGHT-TO-LEFT ISOLATE",
  8296: "FIRST STRONG ISOLATE",
  8297: "POP DIRECTIONAL ISOLATE",
  65279: "ZERO WIDTH NO-BREAK SPACE (BOM)",
};

/** `U+202E (RIGHT-TO-LEFT OVERRIDE) at character 4`, for the first invisible format character in `s`. */
export function formatCharacterIn(s: string): string | undefined {
  const m = FORMAT.exec(s);
  if (!m) return undefined;
  const cp = m[0].codePointAt(0) as number;
  const name = FORMAT_NAMES[cp];
  const hex = cp.toString(16).toUpperCase().padStart(4, "0");
  return `U+${hex}${name ? ` (${name})` : ""} at character ${[...s.slice(0, m.index)].length + 1}`;
}

/** Any non-empty string without control or invisible format characters: the base of every string in the file. */
export const text = (expected = "a string") =>
  z
    .string({ error: `expected ${expected}` })
    .min(1, { error: "must not be empty" })
    .refine((s) => !CONTROL.test(s), { error: "must not contain control characters (newline, tab, …)" })
    .superRefine((s, ctx) => {
      const found = formatCharacterIn(s);
      if (found)
        ctx.addIssue({
          code: "custom",
          message: `must not contain invisible format characters: found ${found}, which can make the text read differently from what it is`,
        });
    });

export const port = () =>
  z
    .number({ error: "expected 1–65535" })
    .int({ error: "expected 1–65535" })
    .min(1, { error: "expected 1–65535" })
    .max(65535, { error: "expected 1–65535" });

export const host = () =>
  text().refine((h) => hostKind(h) !== undefined, {
    error: "expected a DNS name, an IPv4 address or an IPv6 address (without brackets)",
  });

export const duration = () =>
  text('a duration like "10s" (30s, 1m30s, 500ms)').refine(isDuration, {
    error: 'expected a duration like "10s" (30s, 1m30s, 500ms)',
  });

/** Unix user and group names as NixOS accepts them (shadow's NAME_REGEX, ≤ 32 characters). */
export const unixName = () =>
  text().regex(/^[a-z_][a-z0-9_-]{0,31}$/, {
    error:
      "expected a user name: lower-case letters, digits, _ or -, starting with a letter or _, ≤ 32 characters",
  });

// ssh2 is loaded on the first host key to check: most lists have none (the NixOS module puts them in
// known_hosts), and loading it costs ~45 ms of every proxy start and reload (docs/benchmarks.md, "Start-up
// memory").
const require = createRequire(import.meta.url);
const parseKey = (line: string): ReturnType<typeof import("ssh2").utils.parseKey> =>
  (require("ssh2") as typeof import("ssh2")).utils.parseKey(line);

/** An OpenSSH public key line (`type base64 [comment]`), checked with ssh2's key parser. */
export const publicKey = () =>
  text().superRefine((line, ctx) => {
    const parsed = parseKey(line);
    if (parsed instanceof Error) {
      ctx.addIssue({
        code: "custom",
        message: `not an OpenSSH public key (${parsed.message}); expected e.g. "ssh-ed25519 AAAA…"`,
      });
    } else if (Array.isArray(parsed) || parsed.getPrivatePEM()) {
      ctx.addIssue({
        code: "custom",
        message: "expected a public key, got a private key — never put private keys here",
      });
    }
  });

const labelName = () =>
  text().regex(/^[a-zA-Z_][a-zA-Z0-9_]*$/, {
    error: "expected a Prometheus label name ([a-zA-Z_][a-zA-Z0-9_]*)",
  });

export const labels = () =>
  z
    .record(labelName(), text(), { error: "expected a map of label name → string value" })
    .superRefine((l, ctx) => {
      for (const k of Object.keys(l)) {
        if (k.startsWith("__"))
          ctx.addIssue({
            code: "custom",
            path: [k],
            message: "label names starting with __ are reserved by Prometheus",
          });
      }
    });

/** Where the SSH private key comes from. sops-nix and agenix decrypt at activation; `path` is a plain file. */
export const keySource = () =>
  z.union(
    [
      z.strictObject({
        sops: z.strictObject({
          file: text(),
          key: text().optional(),
          name: unixName().optional(),
        }),
      }),
      z.strictObject({
        agenix: z.strictObject({
          file: text(),
          name: unixName().optional(),
        }),
      }),
      z.strictObject({
        path: text().refine((p) => p.startsWith("/"), { error: "expected an absolute path" }),
      }),
      // The keys of a running ssh-agent (ssh-agent(1)): `true` for $SSH_AUTH_SOCK, or the agent's socket path.
      z.strictObject({
        agent: z.union([
          z.literal(true),
          text().refine((p) => p.startsWith("/"), { error: "expected an absolute socket path" }),
        ]),
      }),
    ],
    {
      error:
        'expected exactly one of { path: "/abs/file" }, { sops: { file, key } }, { agenix: { file } } or { agent: true | "/agent/socket" }',
    },
  );

export const jumpHost = () =>
  z.strictObject({
    host: host(),
    port: port().optional(),
    user: unixName().optional(),
    hostKeys: z.array(publicKey()).optional(),
  });

/** Per-target SSH overrides; anything left out comes from the top-level `ssh` section. */
export const sshOverrides = () =>
  z.strictObject({
    user: unixName().optional(),
    port: port().optional(),
    key: keySource().optional(),
    /** Public half of this target's own `key`, for the authorized_keys line `generate --remote` writes. */
    publicKey: publicKey().optional(),
    remoteAddress: host().optional(),
    jump: jumpHost().optional(),
  });

/**
 * TLS settings for a `scheme: https` exporter, as Prometheus' `tls_config` (prometheus/common config):
 * the tunnel is end to end, so Prometheus itself verifies the exporter's certificate.
 */
export const exporterTls = () =>
  z
    .strictObject({
      caFile: text()
        .refine((p) => p.startsWith("/"), { error: "expected an absolute path" })
        .optional(),
      // The name Prometheus checks the certificate against: a DNS name or an IP address, like a host.
      serverName: host().optional(),
      insecureSkipVerify: z.boolean({ error: "expected true or false" }).optional(),
    })
    .refine((t) => Object.keys(t).length > 0, {
      error: "expected at least one of caFile, serverName, insecureSkipVerify",
    });

/**
 * URL query parameters of an exporter's scrape (Prometheus' scrape_config `params`, e.g. blackbox's
 * `module: [http_2xx]`). Names must also be label-name suffixes, because discovery carries each parameter as
 * a `__param_<name>` label (prometheus scrape/target.go); values are plain strings like every other.
 */
export const MAX_PARAMS = 16;
export const MAX_PARAM_VALUES = 16;
export const MAX_PARAM_VALUE_LENGTH = 1024;
/** The encoded query as Prometheus sends it; the proxy refuses request targets over 8 KiB (request-target.ts). */
export const MAX_QUERY_LENGTH = 4096;

const paramName = () =>
  text().regex(/^[a-zA-Z_][a-zA-Z0-9_]{0,63}$/, {
    error:
      "expected a parameter name usable in a __param_<name> label ([a-zA-Z_][a-zA-Z0-9_]*, ≤ 64 characters)",
  });

export const params = () =>
  z
    .record(
      z.string(),
      z
        .array(
          text().max(MAX_PARAM_VALUE_LENGTH, {
            error: `expected at most ${MAX_PARAM_VALUE_LENGTH} characters`,
          }),
          { error: 'expected a list of strings, e.g. ["http_2xx"]' },
        )
        .min(1, { error: "expected at least one value" })
        .max(MAX_PARAM_VALUES, { error: `expected at most ${MAX_PARAM_VALUES} values` }),
      { error: 'expected a map of parameter name → list of strings, e.g. { module: ["http_2xx"] }' },
    )
    .superRefine((p, ctx) => {
      const names = Object.keys(p);
      if (names.length > MAX_PARAMS)
        ctx.addIssue({ code: "custom", message: `expected at most ${MAX_PARAMS} parameters` });
      const query = queryString(p).length;
      if (query > MAX_QUERY_LENGTH)
        ctx.addIssue({
          code: "custom",
          message: `the encoded query string would be ${query} characters; expected at most ${MAX_QUERY_LENGTH}`,
        });
      // Checked here rather than as the record's key type, so the message says what is wrong with the name.
      for (const name of names) {
        const r = paramName().safeParse(name);
        if (!r.success)
          ctx.addIssue({
            code: "custom",
            path: [name],
            message: r.error.issues[0]?.message ?? "invalid name",
          });
      }
    });

export const exporter = () =>
  z.strictObject({
    name: text().regex(/^[a-zA-Z_][a-zA-Z0-9_-]*$/, {
      error: "expected a job-like name ([a-zA-Z_][a-zA-Z0-9_-]*)",
    }),
    port: port(),
    scheme: z.enum(["http", "https"], { error: 'expected "http" or "https"' }).default("http"),
    metricsPath: text()
      .refine((p) => p.startsWith("/"), { error: 'expected a path starting with "/"' })
      .default("/metrics"),
    params: params().optional(),
    labels: labels().optional(),
    scrapeInterval: duration().optional(),
    scrapeTimeout: duration().optional(),
    tls: exporterTls().optional(),
    /**
     * Methods the proxy forwards to this exporter besides GET and HEAD (e.g. POST for a pushgateway's API).
     * Prometheus only sends GET, so the default is none: see docs/security.md, "Request framing".
     */
    extraMethods: z
      .array(
        z.enum(["POST", "PUT", "PATCH", "DELETE"], { error: 'expected "POST", "PUT", "PATCH" or "DELETE"' }),
      )
      .optional(),
  });

export const target = () =>
  z.strictObject({
    host: host(),
    hostKeys: z.array(publicKey()).optional(),
    ssh: sshOverrides().optional(),
    labels: labels().optional(),
    exporters: z.array(exporter()).min(1, { error: "expected at least one exporter" }),
  });

/**
 * HOST:PORT to listen on, HOST an IPv4 address, a bracketed IPv6 address or a DNS name. The value ends up
 * on command lines (the unit's readiness check, Prometheus' proxy_url), so anything else — spaces, a
 * leading "-", "$", "%" — is refused here rather than escaped later.
 */
const listenAddress = () =>
  text().superRefine((s, ctx) => {
    const problem = listenProblem(s);
    if (problem) ctx.addIssue({ code: "custom", message: problem });
  });

export function listenProblem(s: string): string | undefined {
  const example = 'e.g. "127.0.0.1:8888" or "[::1]:8888"';
  const m = /^(?:\[([^\]]*)\]|([^[\]]*)):(\d+)$/.exec(s);
  if (!m) return `expected HOST:PORT, ${example}; got ${JSON.stringify(s)}`;
  const port = Number(m[3]);
  if (!(port >= 1 && port <= 65535)) return `port ${JSON.stringify(m[3])} is not 1–65535 (${example})`;
  const bracketed = m[1];
  const host = bracketed ?? (m[2] as string);
  if (bracketed !== undefined) {
    if (hostKind(bracketed) !== "ipv6")
      return `${JSON.stringify(bracketed)} in brackets is not an IPv6 address`;
    return undefined;
  }
  if (host.includes(":")) return `IPv6 addresses go in brackets: "[${host}]:${m[3]}"`;
  if (hostKind(host) === undefined)
    return `${JSON.stringify(host)} is not an IP address or DNS name (letters, digits, "-", "_" and "."; no spaces or options); ${example}`;
  return undefined;
}

/** `host:port` allow patterns: `*` and `?` wildcards in the host, a number or `*` as the port. */
export const allowPattern = () =>
  // Host: a DNS name or IPv4 address with wildcards (never starting with "-"), or bracketed IPv6.
  text().regex(/^(\[[0-9a-fA-F:.*?]+\]|[A-Za-z0-9_*?][A-Za-z0-9_.*?-]*):(\d{1,5}|\*)$/, {
    error: 'expected HOST:PORT with optional * or ? wildcards, e.g. "*.example.org:9100" or "10.0.0.*:*"',
  });

export { SYSTEM_KNOWN_HOSTS_FILE };

export const proxySettings = () =>
  z.strictObject({
    listen: listenAddress().default("127.0.0.1:8888"),
    metricsListen: listenAddress().optional(),
    user: unixName().default("sshscrape"),
    group: unixName().optional(),
    knownHostsFile: text().default(SYSTEM_KNOWN_HOSTS_FILE),
    allow: z.array(allowPattern()).optional(),
    auth: z
      .strictObject({
        username: text().refine((u) => !u.includes(":"), { error: 'must not contain ":"' }),
        passwordFile: text().refine((p) => p.startsWith("/"), { error: "expected an absolute path" }),
      })
      .optional(),
    allowNonLoopback: z.boolean().default(false),
    timeout: duration().default("30s"),
    timeoutMargin: duration().default("500ms"),
    connectTimeout: duration().default("5s"),
    handshakeTimeout: duration().default("10s"),
    channelOpenTimeout: duration().default("5s"),
    idleTimeout: duration().default("5m"),
    keepaliveInterval: duration().default("15s"),
    keepaliveCountMax: z.number().int().min(1).max(100).default(3),
    backoff: duration().default("10s"),
    gracePeriod: duration().default("10s"),
    maxHandshakes: z.number().int().min(1, { error: "expected a positive integer" }).default(32),
    preconnect: z.boolean().default(true),
    noDelaySession: z.boolean().optional(),
    maxResponseBytes: z.number().int().min(1, { error: "expected a positive number of bytes" }).optional(),
  });

export const sshSettings = () =>
  z.strictObject({
    user: unixName().default("sshscrape"),
    port: port().default(22),
    key: keySource(),
    passphraseFile: text().optional(),
    publicKey: publicKey().optional(),
    remoteAddress: host().default("127.0.0.1"),
  });

/**
 * Splitting one target list across several Prometheus servers (each with its own proxy): `count` shards,
 * and the one this host is (`index`, usually set per host with `--shard`). See src/config/shard.ts.
 */
export const shardSettings = () =>
  z
    .strictObject({
      count: z
        .number({ error: "expected a whole number ≥ 1" })
        .int({ error: "expected a whole number ≥ 1" })
        .min(1, { error: "expected a whole number ≥ 1" }),
      index: z
        .number({ error: "expected a whole number ≥ 0" })
        .int({ error: "expected a whole number ≥ 0" })
        .min(0, { error: "expected a whole number ≥ 0" })
        .default(0),
    })
    .refine((s) => s.index < s.count, {
      path: ["index"],
      error: "expected an index below count (shards are numbered 0 … count-1)",
    });

export const configSchema = z
  .strictObject({
    shards: shardSettings().optional(),
    proxy: proxySettings().prefault({}),
    ssh: sshSettings(),
    defaults: z
      .strictObject({
        scrapeInterval: duration().optional(),
        scrapeTimeout: duration().optional(),
        labels: labels().optional(),
      })
      .prefault({}),
    targets: z.array(target()).min(1, { error: "expected at least one target" }),
  })
  .superRefine((cfg, ctx) => {
    // The proxy routes by host:port, so two exporters on one host:port could never be told apart.
    const seen = new Map<string, string>();
    cfg.targets.forEach((t, ti) => {
      t.exporters.forEach((e, ei) => {
        const key = joinHostPort(normalizeHost(t.host), e.port);
        const where = `targets[${ti}].exporters[${ei}]`;
        const first = seen.get(key);
        if (first) {
          ctx.addIssue({
            code: "custom",
            path: ["targets", ti, "exporters", ei, "port"],
            message: `duplicate ${key}: already used by ${first}`,
          });
        } else seen.set(key, where);
        if (e.tls && e.scheme !== "https")
          ctx.addIssue({
            code: "custom",
            path: ["targets", ti, "exporters", ei, "tls"],
            message: "tls applies to scheme: https only; set scheme: https or remove tls",
          });
      });
    });
  });

export type Config = z.output<typeof configSchema>;
export type ConfigInput = z.input<typeof configSchema>;
export type Target = Config["targets"][number];
export type Exporter = Target["exporters"][number];
export type ExporterTls = z.output<ReturnType<typeof exporterTls>>;
export type KeySource = z.output<ReturnType<typeof keySource>>;
export type ProxySettings = Config["proxy"];
export type SshSettings = Config["ssh"];
export type JumpHost = z.output<ReturnType<typeof jumpHost>>;

/** JSON Schema of the target list (for editors), derived from the zod schema so the two cannot drift. */
export function configJsonSchema(): Record<string, unknown> {
  return z.toJSONSchema(configSchema, { io: "input", unrepresentable: "any" }) as Record<string, unknown>;
}
