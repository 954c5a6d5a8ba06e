/**
 * The plain data the templates render: everything decided here (names, sorting, merging of defaults),
 * nothing about Nix syntax. Templates only loop over it and pass each value through `nix`/`nixAttr`.
 */
import { isAbsolute, relative, resolve } from "node:path";
import {
  type Config,
  type Exporter,
  type ExporterTls,
  joinHostPort,
  type KeySource,
  type LoadedConfig,
  normalizeHost,
  parseDuration,
  proxySettings,
  SYSTEM_KNOWN_HOSTS_FILE,
  secretName,
  splitHostPort,
} from "../config/index.js";
import type { NixData } from "../nix/value.js";
import { GenerateError } from "./errors.js";

/** The systemd unit the generated module defines; credentials live under /run/credentials/<unit>/. */
export const UNIT = "sshscrape";
export const CREDENTIALS_DIR = `/run/credentials/${UNIT}.service`;

export interface ModelOptions {
  /** How the header names the source file (the path as the user gave it). */
  source: string;
  /** sshscrape version for the header. */
  version: string;
  /** Directory the generated files will live in: relative Nix paths (sops/agenix files) are relative to it. */
  base: string;
}

export interface Secret {
  kind: "sops" | "agenix";
  name: string;
  /** Path of the encrypted file relative to the output directory (or absolute). */
  file: string;
  key?: string;
}

export interface Credential {
  id: string;
  /** `ID:` in front of a secret's runtime path (`LoadCredential=ID:PATH`, systemd.exec(5)). */
  prefix: string;
  /** A sops-nix / agenix secret, or `spec` = `ID:/plain/path`. */
  secret?: Secret;
  spec?: string;
}

export interface KnownHost {
  name: string;
  hostNames: string[];
  publicKey: string;
}

export interface StaticConfig {
  targets: string[];
  labels: Record<string, string>;
}

export interface Job {
  jobName: string;
  scheme?: "https";
  metricsPath?: string;
  scrapeInterval?: string;
  scrapeTimeout?: string;
  /** Prometheus' tls_config for an https job: its certificate is checked end to end through the tunnel. */
  tls?: ExporterTls;
  proxyUrl: string;
  staticConfigs: StaticConfig[];
}

export interface Header {
  source: string;
  version: string;
}

export interface MonitoringModel {
  header: Header;
  user: string;
  group: string;
  secrets: Secret[];
  credentials: Credential[];
  /** Restart the unit when an agenix secret's encrypted file changes (agenix has no restartUnits). */
  ageRestartSecrets: Secret[];
  /** Reload on /etc/ssh/ssh_known_hosts changes; only when NixOS writes that file (some host key given). */
  reloadOnKnownHosts: boolean;
  knownHosts: KnownHost[];
  jobs: Job[];
  /** The validated target list as the proxy reads it, key paths pointing at the unit's credentials. */
  proxyConfig: NixData;
  /** The proxy's /readyz, which ExecStartPost waits for so Prometheus (ordered after the unit) starts then. */
  readyUrl: string;
}

export const cmp = (a: string, b: string) => (a < b ? -1 : a > b ? 1 : 0);

/** `http://host:port` Prometheus uses as proxy_url; a wildcard listen address is reached on loopback. */
export function proxyUrl(config: Config): string {
  const listen = splitHostPort(config.proxy.listen);
  if (!listen) throw new Error(`unreachable: proxy.listen ${config.proxy.listen} passed validation`);
  const host = listen.host === "0.0.0.0" ? "127.0.0.1" : listen.host === "::" ? "::1" : listen.host;
  return `http://${joinHostPort(host, listen.port)}`;
}

/** A secret's encrypted file, relative to where the generated files go. Relative input is relative to the list. */
function outputRelative(file: string, listFile: string, base: string): string {
  if (isAbsolute(file)) return file;
  const abs = resolve(listFile, "..", file);
  const rel = relative(base, abs);
  return rel.startsWith("..") || isAbsolute(rel) ? rel : `./${rel}`;
}

export interface Keys {
  secrets: Secret[];
  credentials: Credential[];
  /** Credential id for each distinct key source (JSON of the KeySource). */
  idOf: Map<string, string>;
}

export function collectKeys(loaded: LoadedConfig, base: string, problems: string[]): Keys {
  const { config, file } = loaded;
  const secrets = new Map<string, { secret: Secret; where: string; json: string }>();
  const credentials: Credential[] = [];
  const idOf = new Map<string, string>();
  const sources: Array<[KeySource, string]> = [[config.ssh.key, "ssh.key"]];
  config.targets.forEach((t, i) => {
    if (t.ssh?.key) sources.push([t.ssh.key, `targets[${i}].ssh.key`]);
  });
  for (const [key, where] of sources) {
    // An ssh-agent's keys are no credential of the unit (Nix output refuses them: generate.ts).
    if ("agent" in key) continue;
    const json = JSON.stringify(key);
    if (idOf.has(json)) continue;
    const id = idOf.size === 0 ? "ssh-key" : `ssh-key-${idOf.size + 1}`;
    idOf.set(json, id);
    if ("path" in key) {
      credentials.push({ id, prefix: `${id}:`, spec: `${id}:${key.path}` });
      continue;
    }
    const name = secretName(key) as string;
    const secret: Secret =
      "sops" in key
        ? {
            kind: "sops",
            name,
            file: outputRelative(key.sops.file, file, base),
            ...(key.sops.key ? { key: key.sops.key } : {}),
          }
        : { kind: "agenix", name, file: outputRelative(key.agenix.file, file, base) };
    const clash = secrets.get(name);
    if (clash) {
      problems.push(
        `${where}: secret name "${name}" is already used by ${clash.where} for a different key; give this one its own name (${secret.kind}.name)`,
      );
      continue;
    }
    secrets.set(name, { secret, where, json });
    credentials.push({ id, prefix: `${id}:`, secret });
  }
  return {
    secrets: [...secrets.values()].map((s) => s.secret).sort((a, b) => cmp(a.name, b.name)),
    credentials,
    idOf,
  };
}

/** `ed25519` from `ssh-ed25519 AAAA…` (the key was validated by the schema; its first word is its type). */
function keyType(line: string): string {
  return (line.split(" ")[0] ?? "key").replace(/^ssh-/, "");
}

export function knownHosts(config: Config): KnownHost[] {
  const byName = new Map<string, KnownHost>();
  const seen = new Set<string>();
  const add = (host: string, port: number, keys: string[] | undefined) => {
    const hostName = port === 22 ? host : `[${host}]:${port}`;
    for (const publicKey of keys ?? []) {
      // known_hosts compares the key, not its comment: `type base64` identifies it.
      const id = `${normalizeHost(hostName)}\0${publicKey.split(" ").slice(0, 2).join(" ")}`;
      if (seen.has(id)) continue;
      seen.add(id);
      const stem = `${hostName}-${keyType(publicKey)}`;
      let name = stem;
      for (let n = 2; byName.has(name); n++) name = `${stem}-${n}`;
      byName.set(name, { name, hostNames: [hostName], publicKey });
    }
  };
  for (const t of config.targets) {
    add(t.host, t.ssh?.port ?? config.ssh.port, t.hostKeys);
    if (t.ssh?.jump) add(t.ssh.jump.host, t.ssh.jump.port ?? 22, t.ssh.jump.hostKeys);
  }
  return [...byName.values()].sort((a, b) => cmp(a.name, b.name));
}

function sortedLabels(...sets: Array<Record<string, string> | undefined>): Record<string, string> {
  const merged: Record<string, string> = Object.assign({}, ...sets.filter(Boolean));
  return Object.fromEntries(Object.entries(merged).sort(([a], [b]) => cmp(a, b)));
}

/** What makes two exporters with one name need separate Prometheus jobs. */
function variantOf(e: Exporter, config: Config) {
  return {
    scheme: e.scheme,
    metricsPath: e.metricsPath,
    scrapeInterval: e.scrapeInterval ?? config.defaults.scrapeInterval,
    scrapeTimeout: e.scrapeTimeout ?? config.defaults.scrapeTimeout,
    tls: tlsOf(e),
  };
}

/** An exporter's TLS settings in a fixed key order, `insecureSkipVerify: false` (the default) left out. */
export function tlsOf(e: Exporter): ExporterTls | undefined {
  if (!e.tls) return undefined;
  const out: ExporterTls = {
    ...(e.tls.caFile ? { caFile: e.tls.caFile } : {}),
    ...(e.tls.serverName ? { serverName: e.tls.serverName } : {}),
    ...(e.tls.insecureSkipVerify ? { insecureSkipVerify: true } : {}),
  };
  return Object.keys(out).length > 0 ? out : undefined;
}

// Prometheus' global defaults (config.DefaultGlobalConfig) apply when a job sets neither.
const PROMETHEUS_INTERVAL = "1m";
const PROMETHEUS_TIMEOUT = "10s";

function jobs(loaded: LoadedConfig, problems: string[]): Job[] {
  const { config } = loaded;
  const url = proxyUrl(config);
  const groups = new Map<
    string,
    { name: string; variant: ReturnType<typeof variantOf>; members: string[] }
  >();
  const members = new Map<string, Array<{ target: string; labels: Record<string, string> }>>();
  config.targets.forEach((t, ti) => {
    t.exporters.forEach((e, ei) => {
      const variant = variantOf(e, config);
      const interval = parseDuration(variant.scrapeInterval ?? PROMETHEUS_INTERVAL);
      const timeout = parseDuration(variant.scrapeTimeout ?? PROMETHEUS_TIMEOUT);
      if (timeout > interval)
        problems.push(
          `targets[${ti}].exporters[${ei}]: scrape timeout ${variant.scrapeTimeout ?? PROMETHEUS_TIMEOUT} is longer than the scrape interval ${variant.scrapeInterval ?? PROMETHEUS_INTERVAL}; Prometheus refuses that (lower scrapeTimeout or raise scrapeInterval)`,
        );
      const key = JSON.stringify([e.name, variant]);
      if (!groups.has(key)) groups.set(key, { name: e.name, variant, members: [] });
      const list = members.get(key) ?? [];
      list.push({
        target: joinHostPort(t.host, e.port),
        labels: sortedLabels(config.defaults.labels, t.labels, e.labels),
      });
      members.set(key, list);
    });
  });
  // One job per exporter name; a name whose exporters differ in scheme, path, timing or TLS settings needs one job per
  // variant (job_name must be unique), and those keep `job` = the name through a target label.
  const byName = new Map<string, string[]>();
  for (const [key, g] of groups) byName.set(g.name, [...(byName.get(g.name) ?? []), key]);
  const out: Job[] = [];
  for (const [name, keys] of [...byName].sort(([a], [b]) => cmp(a, b))) {
    keys.sort();
    keys.forEach((key, i) => {
      const g = groups.get(key) as { variant: ReturnType<typeof variantOf> };
      const split = keys.length > 1;
      const byLabels = new Map<string, StaticConfig>();
      for (const m of members.get(key) ?? []) {
        const labels = split ? sortedLabels(m.labels, { job: name }) : m.labels;
        const lk = JSON.stringify(labels);
        const sc = byLabels.get(lk) ?? { targets: [], labels };
        sc.targets.push(m.target);
        byLabels.set(lk, sc);
      }
      const staticConfigs = [...byLabels.values()];
      for (const sc of staticConfigs) sc.targets.sort(cmp);
      staticConfigs.sort((a, b) => cmp(JSON.stringify(a.labels), JSON.stringify(b.labels)));
      out.push({
        jobName: split && i > 0 ? `${name}-${i + 1}` : name,
        ...(g.variant.scheme === "https" ? { scheme: "https" as const } : {}),
        ...(g.variant.metricsPath !== "/metrics" ? { metricsPath: g.variant.metricsPath } : {}),
        ...(g.variant.scrapeInterval ? { scrapeInterval: g.variant.scrapeInterval } : {}),
        ...(g.variant.scrapeTimeout ? { scrapeTimeout: g.variant.scrapeTimeout } : {}),
        ...(g.variant.tls ? { tls: g.variant.tls } : {}),
        proxyUrl: url,
        staticConfigs,
      });
    });
  }
  return out;
}

/**
 * The target list the unit's proxy reads: the user's list with keys rewritten to the unit's credentials
 * and values equal to their defaults left out (the proxy fills them in again), so the file stays readable.
 */
function proxyConfig(config: Config, keys: Keys): NixData {
  // Host keys reach the proxy through /etc/ssh/ssh_known_hosts (services.openssh.knownHosts), so a changed key
  // changes that file (reload) and not this one (restart) — as nix/module.nix does.
  const viaKnownHosts = config.proxy.knownHostsFile === SYSTEM_KNOWN_HOSTS_FILE;
  const cred = (k: KeySource) =>
    "agent" in k ? k : { path: `${CREDENTIALS_DIR}/${keys.idOf.get(JSON.stringify(k))}` };
  const exporter = (e: Exporter) => {
    const { scheme, metricsPath, ...rest } = e;
    return {
      ...rest,
      ...(scheme !== "http" ? { scheme } : {}),
      ...(metricsPath !== "/metrics" ? { metricsPath } : {}),
    };
  };
  const proxy = changedProxySettings(config, []);
  const auth = config.proxy.auth;
  if (auth) proxy.auth = { ...auth, passwordFile: `${CREDENTIALS_DIR}/${PASSWORD_CREDENTIAL}` };
  const defaults = Object.keys(config.defaults).length > 0 ? { defaults: config.defaults } : {};
  const out = {
    ...(Object.keys(proxy).length > 0 ? { proxy } : {}),
    ssh: {
      ...config.ssh,
      key: cred(config.ssh.key),
      ...(config.ssh.passphraseFile ? { passphraseFile: `${CREDENTIALS_DIR}/${PASSPHRASE_CREDENTIAL}` } : {}),
    },
    ...defaults,
    targets: config.targets.map(({ hostKeys, ...t }) => {
      const ssh = t.ssh && { ...t.ssh, ...(t.ssh.key ? { key: cred(t.ssh.key) } : {}) };
      if (ssh?.jump && viaKnownHosts) {
        const { hostKeys: _, ...jump } = ssh.jump;
        ssh.jump = jump;
      }
      return {
        ...t,
        ...(hostKeys && !viaKnownHosts ? { hostKeys } : {}),
        ...(ssh ? { ssh } : {}),
        exporters: t.exporters.map(exporter),
      };
    }),
  };
  // test/generate/nix.test.ts reads this file back through the proxy's loader and compares it to the list.
  return JSON.parse(JSON.stringify(out)) as NixData;
}

// The other files the proxy reads that may be readable by root only: credentials as well.
const PASSPHRASE_CREDENTIAL = "ssh-key-passphrase";
const PASSWORD_CREDENTIAL = "proxy-password";

export function monitoringModel(loaded: LoadedConfig, options: ModelOptions): MonitoringModel {
  const { config } = loaded;
  const problems: string[] = [];
  const keys = collectKeys(loaded, options.base, problems);
  const extra = (id: string, path: string | undefined): Credential[] =>
    path ? [{ id, prefix: `${id}:`, spec: `${id}:${path}` }] : [];
  const jobList = jobs(loaded, problems);
  if (problems.length > 0) throw new GenerateError(loaded.file, problems);
  const hosts = knownHosts(config);
  return {
    header: { source: options.source, version: options.version },
    user: config.proxy.user,
    group: config.proxy.group ?? config.proxy.user,
    secrets: keys.secrets,
    credentials: [
      ...keys.credentials,
      ...extra(PASSPHRASE_CREDENTIAL, config.ssh.passphraseFile),
      ...extra(PASSWORD_CREDENTIAL, config.proxy.auth?.passwordFile),
    ],
    ageRestartSecrets: keys.secrets.filter((s) => s.kind === "agenix"),
    reloadOnKnownHosts: hosts.length > 0 && config.proxy.knownHostsFile === SYSTEM_KNOWN_HOSTS_FILE,
    knownHosts: hosts,
    jobs: jobList,
    proxyConfig: proxyConfig(config, keys),
    readyUrl: `${proxyUrl(config)}/readyz`,
  };
}

/** Proxy settings a user changed from their defaults (for `services.sshscrape.settings.proxy`). */
export function changedProxySettings(config: Config, exclude: string[]): Record<string, NixData> {
  const defaults = proxySettings().parse({}) as Record<string, unknown>;
  const out: Record<string, NixData> = {};
  for (const [k, v] of Object.entries(config.proxy)) {
    if (exclude.includes(k) || v === undefined) continue;
    if (JSON.stringify(v) !== JSON.stringify(defaults[k])) out[k] = JSON.parse(JSON.stringify(v)) as NixData;
  }
  return out;
}
