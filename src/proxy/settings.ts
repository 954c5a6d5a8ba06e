/**
 * ProxyRuntime: everything the running proxy needs, resolved from a target list (`--config`) or from
 * sshified's flags, with durations in milliseconds and hosts canonical. Key paths are resolved here
 * (explicit flag > $CREDENTIALS_DIRECTORY > the target list) so the rest of the proxy never asks where
 * a key comes from.
 */
import { existsSync } from "node:fs";
import { basename, join } from "node:path";
// Each config module on its own, not ../config/index.js: the proxy process does not load the schema (zod).
import { parseDuration } from "../config/duration.js";
import { hostKind, joinHostPort, normalizeHost } from "../config/host.js";
import { runtimeKeyPath, secretName } from "../config/key-path.js";
import { SYSTEM_KNOWN_HOSTS_FILE } from "../config/known-hosts-file.js";
import type { Config, JumpHost, KeySource } from "../config/schema.js";
import { inShard, type Shards } from "../config/shard.js";
import { ProxySettingsError } from "./errors.js";
import { KnownHosts } from "./known-hosts.js";
import { canonicalHost } from "./request-target.js";
import { type NamedGroup, targetGroups } from "./sd.js";

export interface HostPort {
  host: string;
  port: number;
}

/** One SSH login: who, where, with which key, and (for bastions) through which other login. */
export interface SshEndpoint {
  user: string;
  host: string;
  port: number;
  keyFile: string;
  /** An ssh-agent's socket: when set, the agent's keys authenticate and `keyFile` is not used. */
  agent?: string;
  jump?: SshEndpoint;
}

/** Per-host overrides from the target list; anything undefined comes from `defaults`. */
export interface HostOverrides {
  user?: string;
  port?: number;
  keyFile?: string;
  /** An ssh-agent socket instead of `keyFile`. */
  agent?: string;
  remoteAddress?: string;
  jump?: { host: string; port: number; user?: string };
}

export interface ProxyTimeouts {
  /** Upper bound of a whole request (proxy.timeout / sshified's --timeout). */
  request: number;
  /** Subtracted from X-Prometheus-Scrape-Timeout-Seconds. */
  margin: number;
  connect: number;
  handshake: number;
  channelOpen: number;
  idle: number;
  keepaliveInterval: number;
  keepaliveCountMax: number;
  backoff: number;
  grace: number;
}

export interface ProxyRuntime {
  /** The target list file, or "command line" in sshified-compatible mode. */
  source: string;
  mode: "config" | "sshified";
  listen: HostPort;
  metricsListen?: HostPort;
  allowNonLoopback: boolean;
  auth?: { username: string; passwordFile: string };
  knownHostsFile: string;
  /** known_hosts lines made from the target list's `hostKeys` (used beside knownHostsFile). */
  extraKnownHosts: string[];
  /** Where each extraKnownHosts line came from (`targets[1].hostKeys[0]`), index for index. */
  extraKnownHostsFrom?: string[];
  allow: { exact: HostPort[]; patterns: string[]; anyKnownHost: boolean };
  /** `keyFile` is "" when `agent` (an ssh-agent socket) authenticates instead. */
  defaults: { user: string; port: number; keyFile: string; agent?: string; remoteAddress: string };
  hosts: Map<string, HostOverrides>;
  /** This proxy's shard of the list (`shards`): only its hosts are allowed, preconnected and discovered. */
  shards?: Shards;
  /** What `GET /sd` serves: the target groups of this proxy's shard (none in sshified-compatible mode). */
  sd?: NamedGroup[];
  passphraseFile?: string;
  timeouts: ProxyTimeouts;
  maxHandshakes: number;
  maxResponseBytes?: number;
  /** Open an SSH connection to every configured host at start, before the first scrape asks for one. */
  preconnect: boolean;
  /** Open a session on each SSH connection so that sshd turns Nagle's algorithm off on it (pool.ts). */
  noDelaySession?: boolean;
  /**
   * Methods beyond GET and HEAD that an exporter opted in to (`extraMethods`), by `host:port` as the request
   * target names it; absent = GET and HEAD only (framing.ts).
   */
  extraMethods?: Map<string, ReadonlySet<string>>;
  /**
   * The scheme of each configured exporter, by `host:port`: CONNECT (a raw tunnel, any bytes) is only for
   * `https` ones; absent for targets allowed by pattern or in sshified mode.
   */
  schemes?: Map<string, "http" | "https">;
  /**
   * The one path (its `metricsPath`) a configured plain-http exporter answers through the proxy, by
   * `host:port`; any query string passes (params). Absent for exporters with `extraMethods` (an API such as a
   * pushgateway's lives under other paths), for patterns and in sshified mode.
   */
  paths?: Map<string, string>;
}

/** Resolved SSH path to one target host. */
export interface Route {
  ssh: SshEndpoint;
  remoteAddress: string;
}

export function routeFor(runtime: ProxyRuntime, host: string): Route {
  const o = runtime.hosts.get(host) ?? {};
  const user = o.user ?? runtime.defaults.user;
  // A target's own key (file or agent) replaces the default one as a whole.
  const own = o.keyFile !== undefined || o.agent !== undefined;
  const keyFile = (own ? o.keyFile : runtime.defaults.keyFile) ?? "";
  const agent = own ? o.agent : runtime.defaults.agent;
  const auth = agent ? { keyFile, agent } : { keyFile };
  const jump = o.jump
    ? { user: o.jump.user ?? user, host: o.jump.host, port: o.jump.port, ...auth }
    : undefined;
  return {
    ssh: { user, host, port: o.port ?? runtime.defaults.port, ...auth, jump },
    remoteAddress: o.remoteAddress ?? runtime.defaults.remoteAddress,
  };
}

/** Every key file the runtime can use (loaded at start and on reload). */
export function keyFiles(runtime: ProxyRuntime): string[] {
  const files = new Set(runtime.defaults.agent ? [] : [runtime.defaults.keyFile]);
  for (const o of runtime.hosts.values()) if (o.keyFile) files.add(o.keyFile);
  return [...files].filter((f) => f !== "");
}

/** The ssh-agent socket `key` names: its path, or $SSH_AUTH_SOCK for `agent: true`; undefined for key files. */
export function agentSocket(key: KeySource, where: string, env: NodeJS.ProcessEnv = process.env) {
  if (!("agent" in key)) return undefined;
  if (key.agent !== true) return key.agent;
  const sock = env.SSH_AUTH_SOCK;
  if (!sock)
    throw new ProxySettingsError(
      `${where}: { agent: true } uses $SSH_AUTH_SOCK, which is not set in the proxy's environment; start an ` +
        'agent (eval "$(ssh-agent)"; ssh-add KEY) or name its socket: { agent: "/path/to/agent.sock" }',
    );
  return sock;
}

/** `user@host:port`, and ` via user@jump:port` for bastions: the `host` metric label and error wording. */
export function endpointName(e: SshEndpoint): string {
  const self = `${e.user}@${e.host.includes(":") ? `[${e.host}]` : e.host}:${e.port}`;
  return e.jump ? `${self} via ${endpointName(e.jump)}` : self;
}

/** The form request targets are canonicalised to (request-target.ts), so routes and requests meet. */
function canonical(host: string): string {
  try {
    return canonicalHost(normalizeHost(host));
  } catch {
    return normalizeHost(host);
  }
}

/** Where systemd's LoadCredential= puts secrets (systemd.exec(5), "Credentials"). */
function credential(name: string, env: NodeJS.ProcessEnv): string | undefined {
  const dir = env.CREDENTIALS_DIRECTORY;
  if (!dir) return undefined;
  const file = join(dir, name);
  return existsSync(file) ? file : undefined;
}

/** The global key: `$CREDENTIALS_DIRECTORY/ssh-key` when present, else where the target list says. */
export function globalKeyFile(key: KeySource, env: NodeJS.ProcessEnv = process.env): string {
  return credential("ssh-key", env) ?? runtimeKeyPath(key);
}

/** A per-target key: `$CREDENTIALS_DIRECTORY/<secret name or file name>` when present, else its path. */
export function targetKeyFile(key: KeySource, env: NodeJS.ProcessEnv = process.env): string {
  const name = secretName(key) ?? basename(runtimeKeyPath(key));
  return credential(name, env) ?? runtimeKeyPath(key);
}

/** HOST:PORT or [V6]:PORT; port 0 picks a free port. Go's ":PORT" (all interfaces) is accepted as sshified did. */
function listenAddress(text: string, what: string): HostPort {
  const m = /^(?:\[([^\]]+)\]|([^:[\]]*)):(\d{1,5})$/.exec(text);
  const port = Number(m?.[3]);
  if (!m || port > 65535)
    throw new ProxySettingsError(
      `${what}: expected HOST:PORT, e.g. 127.0.0.1:8888, got ${JSON.stringify(text)}`,
    );
  const host = m[1] ?? m[2] ?? "";
  // The same rule as the target list's proxy.listen: an IP address or a DNS name, nothing else.
  const kind = host === "" ? "any" : hostKind(host);
  if (
    kind === undefined ||
    (m[1] !== undefined && kind !== "ipv6") ||
    (m[2] !== undefined && kind === "ipv6")
  )
    throw new ProxySettingsError(
      `${what}: ${JSON.stringify(host)} is not an IP address (IPv6 in brackets) or DNS name; expected HOST:PORT, e.g. 127.0.0.1:8888`,
    );
  return { host: host === "" ? "0.0.0.0" : normalizeHost(host), port };
}

function jumpOf(j: JumpHost | undefined): HostOverrides["jump"] {
  return j ? { host: canonical(j.host), port: j.port ?? 22, user: j.user } : undefined;
}

function knownHostsLine(host: string, port: number, key: string): string {
  const name = port === 22 ? host : `[${host}]:${port}`;
  return `${name} ${key.split(/\s+/).slice(0, 2).join(" ")}`;
}

/** The runtime for `sshscrape proxy --config FILE`. */
export function settingsFromConfig(
  loaded: { file: string; config: Config },
  env: NodeJS.ProcessEnv = process.env,
): ProxyRuntime {
  const { file, config } = loaded;
  const p = config.proxy;
  const hosts = new Map<string, HostOverrides>();
  const exact: HostPort[] = [];
  const extraKnownHosts: string[] = [];
  const extraKnownHostsFrom: string[] = [];
  const extraMethods = new Map<string, ReadonlySet<string>>();
  const schemes = new Map<string, "http" | "https">();
  const paths = new Map<string, string>();
  const globalAgent = agentSocket(config.ssh.key, `${file}: ssh.key`, env);
  config.targets.forEach((t, ti) => {
    // Another shard's hosts are neither allowed nor connected to: their Prometheus uses their own proxy.
    if (!inShard(t.host, config.shards)) return;
    const host = canonical(t.host);
    const s = t.ssh ?? {};
    const agent = s.key ? agentSocket(s.key, `${file}: targets[${ti}].ssh.key`, env) : undefined;
    hosts.set(host, {
      user: s.user,
      port: s.port,
      keyFile: s.key && !agent ? targetKeyFile(s.key, env) : undefined,
      ...(agent ? { agent } : {}),
      remoteAddress: s.remoteAddress,
      jump: jumpOf(s.jump),
    });
    for (const e of t.exporters) {
      exact.push({ host, port: e.port });
      schemes.set(joinHostPort(host, e.port), e.scheme);
      if (e.extraMethods?.length) extraMethods.set(joinHostPort(host, e.port), new Set(e.extraMethods));
      else paths.set(joinHostPort(host, e.port), e.metricsPath);
    }
    (t.hostKeys ?? []).forEach((k, ki) => {
      extraKnownHosts.push(knownHostsLine(host, s.port ?? config.ssh.port, k));
      extraKnownHostsFrom.push(`targets[${ti}].hostKeys[${ki}]`);
    });
    if (s.jump) {
      const jh = canonical(s.jump.host);
      (s.jump.hostKeys ?? []).forEach((k, ki) => {
        extraKnownHosts.push(knownHostsLine(jh, s.jump?.port ?? 22, k));
        extraKnownHostsFrom.push(`targets[${ti}].ssh.jump.hostKeys[${ki}]`);
      });
    }
  });
  return {
    source: file,
    mode: "config",
    listen: listenAddress(p.listen, `${file}: proxy.listen`),
    metricsListen: p.metricsListen
      ? listenAddress(p.metricsListen, `${file}: proxy.metricsListen`)
      : undefined,
    allowNonLoopback: p.allowNonLoopback,
    auth: p.auth,
    knownHostsFile: p.knownHostsFile,
    extraKnownHosts,
    extraKnownHostsFrom,
    allow: { exact, patterns: p.allow ?? [], anyKnownHost: false },
    defaults: {
      user: config.ssh.user,
      port: config.ssh.port,
      keyFile: globalAgent ? "" : globalKeyFile(config.ssh.key, env),
      ...(globalAgent ? { agent: globalAgent } : {}),
      remoteAddress: config.ssh.remoteAddress,
    },
    hosts,
    shards: config.shards,
    sd: targetGroups(config),
    passphraseFile: config.ssh.passphraseFile,
    timeouts: {
      request: parseDuration(p.timeout),
      margin: parseDuration(p.timeoutMargin),
      connect: parseDuration(p.connectTimeout),
      handshake: parseDuration(p.handshakeTimeout),
      channelOpen: parseDuration(p.channelOpenTimeout),
      idle: parseDuration(p.idleTimeout),
      keepaliveInterval: parseDuration(p.keepaliveInterval),
      keepaliveCountMax: p.keepaliveCountMax,
      backoff: parseDuration(p.backoff),
      grace: parseDuration(p.gracePeriod),
    },
    maxHandshakes: p.maxHandshakes,
    maxResponseBytes: p.maxResponseBytes,
    preconnect: p.preconnect,
    noDelaySession: p.noDelaySession ?? false,
    extraMethods,
    schemes,
    paths,
  };
}

/** sshified's flags (hoffie/sshified main.go), so its systemd unit works with only the binary swapped. */
export interface SshifiedFlags {
  listen?: string;
  user?: string;
  keyFile?: string;
  knownHostsFile?: string;
  port?: number;
  /** Seconds, like sshified's --timeout. */
  timeoutSeconds?: number;
  metricsListen?: string;
}

/** Defaults of the proxy section for settings that have no sshified flag. */
const DEFAULT_TIMEOUTS: ProxyTimeouts = {
  request: 30_000,
  margin: 500,
  connect: 5_000,
  handshake: 10_000,
  channelOpen: 5_000,
  idle: 300_000,
  keepaliveInterval: 15_000,
  keepaliveCountMax: 3,
  backoff: 10_000,
  grace: 10_000,
};

/**
 * The runtime for sshified-compatible mode (no target list): one user, port and key for every host, and
 * the allowlist is "any host in known_hosts, any port" — sshified's own rule, logged as a warning at start.
 */
export function settingsFromFlags(flags: SshifiedFlags, env: NodeJS.ProcessEnv = process.env): ProxyRuntime {
  const keyFile = flags.keyFile ?? credential("ssh-key", env);
  if (!keyFile)
    throw new ProxySettingsError(
      "no private key: pass --ssh.key-file FILE (or --key-file), or --config FILE with a target list",
    );
  return {
    source: "command line",
    mode: "sshified",
    // sshified's default listen address.
    listen: listenAddress(flags.listen ?? "127.0.0.1:8888", "listen address"),
    metricsListen: flags.metricsListen
      ? listenAddress(flags.metricsListen, "--metrics.listen-addr")
      : undefined,
    allowNonLoopback: false,
    knownHostsFile: flags.knownHostsFile ?? SYSTEM_KNOWN_HOSTS_FILE,
    extraKnownHosts: [],
    allow: { exact: [], patterns: [], anyKnownHost: true },
    defaults: {
      user: flags.user ?? "sshscrape",
      port: flags.port ?? 22,
      keyFile,
      remoteAddress: "127.0.0.1",
    },
    hosts: new Map(),
    timeouts: {
      ...DEFAULT_TIMEOUTS,
      ...(flags.timeoutSeconds !== undefined ? { request: Math.round(flags.timeoutSeconds * 1000) } : {}),
    },
    maxHandshakes: 32,
    preconnect: false,
    noDelaySession: false,
  };
}

/** Command-line overrides that apply in both modes. */
export interface RuntimeOverrides {
  listen?: string;
  keyFile?: string;
  knownHostsFile?: string;
  allowNonLoopback?: boolean;
  metricsListen?: string;
}

export function applyOverrides(runtime: ProxyRuntime, o: RuntimeOverrides): ProxyRuntime {
  // A known_hosts file named on the command line must exist (exit 2), even when the list's hostKeys would
  // do without one: a typo there would otherwise go unnoticed until a host's key is looked up.
  if (o.knownHostsFile !== undefined) KnownHosts.read(o.knownHostsFile);
  return {
    ...runtime,
    listen: o.listen ? listenAddress(o.listen, "--listen") : runtime.listen,
    metricsListen: o.metricsListen
      ? listenAddress(o.metricsListen, "--metrics.listen-addr")
      : runtime.metricsListen,
    knownHostsFile: o.knownHostsFile ?? runtime.knownHostsFile,
    allowNonLoopback: o.allowNonLoopback || runtime.allowNonLoopback,
    defaults: o.keyFile
      ? {
          user: runtime.defaults.user,
          port: runtime.defaults.port,
          keyFile: o.keyFile,
          remoteAddress: runtime.defaults.remoteAddress,
        }
      : runtime.defaults,
  };
}

/** True for 127.0.0.0/8, ::1 and localhost: addresses only this machine can reach. */
export function isLoopback(host: string): boolean {
  return host === "localhost" || host === "::1" || /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(host);
}
