/**
 * What the outputs share: the secrets behind the list's keys, and the scrape jobs of the plain Prometheus
 * outputs (`--format prometheus|file-sd`; on NixOS, nix/module.nix makes the jobs itself).
 */
import { isAbsolute, relative, resolve } from "node:path";
import {
  type Config,
  type Exporter,
  type ExporterTls,
  joinHostPort,
  type KeySource,
  type LoadedConfig,
  multiValued,
  type Params,
  parseDuration,
  proxySettings,
  secretName,
  sortedParams,
  splitHostPort,
} from "../config/index.js";
import type { NixData } from "../nix/value.js";
import { GenerateError } from "./errors.js";

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

export interface StaticConfig {
  targets: string[];
  labels: Record<string, string>;
}

export interface Job {
  jobName: string;
  scheme?: "https";
  metricsPath?: string;
  /** URL parameters of every scrape (Prometheus' `params`), names sorted. */
  params?: Params;
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
  jobs: Job[];
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
  /** The sops-nix / agenix secrets behind the list's keys, by name. */
  secrets: Secret[];
  /** The secret of each sops/agenix key source (by the key's JSON); plain paths have none. */
  secretOf: Map<string, Secret>;
}

export function collectKeys(loaded: LoadedConfig, base: string, problems: string[]): Keys {
  const { config, file } = loaded;
  const secrets = new Map<string, { secret: Secret; where: string; json: string }>();
  const secretOf = new Map<string, Secret>();
  const seen = new Set<string>();
  const sources: Array<[KeySource, string]> = [[config.ssh.key, "ssh.key"]];
  config.targets.forEach((t, i) => {
    if (t.ssh?.key) sources.push([t.ssh.key, `targets[${i}].ssh.key`]);
  });
  for (const [key, where] of sources) {
    // An ssh-agent's keys are no credential of the unit (Nix output refuses them: generate.ts).
    if ("agent" in key) continue;
    const json = JSON.stringify(key);
    if (seen.has(json)) continue;
    seen.add(json);
    if ("path" in key) continue;
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
    secretOf.set(json, secret);
  }
  return {
    secrets: [...secrets.values()].map((s) => s.secret).sort((a, b) => cmp(a.name, b.name)),
    secretOf,
  };
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
    params: sortedParams(e.params),
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

/** A job whose timeout is longer than its interval: Prometheus refuses the whole config. */
export function timingProblems(config: Config): string[] {
  const problems: string[] = [];
  config.targets.forEach((t, ti) => {
    t.exporters.forEach((e, ei) => {
      const variant = variantOf(e, config);
      const interval = parseDuration(variant.scrapeInterval ?? PROMETHEUS_INTERVAL);
      const timeout = parseDuration(variant.scrapeTimeout ?? PROMETHEUS_TIMEOUT);
      if (timeout > interval)
        problems.push(
          `targets[${ti}].exporters[${ei}]: scrape timeout ${variant.scrapeTimeout ?? PROMETHEUS_TIMEOUT} is longer than the scrape interval ${variant.scrapeInterval ?? PROMETHEUS_INTERVAL}; Prometheus refuses that (lower scrapeTimeout or raise scrapeInterval)`,
        );
    });
  });
  return problems;
}

function jobs(loaded: LoadedConfig, problems: string[]): Job[] {
  const { config } = loaded;
  problems.push(...timingProblems(config));
  const url = proxyUrl(config);
  const groups = new Map<
    string,
    { name: string; variant: ReturnType<typeof variantOf>; members: string[] }
  >();
  const members = new Map<string, Array<{ target: string; labels: Record<string, string> }>>();
  config.targets.forEach((t) => {
    t.exporters.forEach((e) => {
      const variant = variantOf(e, config);
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
  // One job per exporter name; a name whose exporters differ in scheme, path, params, timing or TLS settings needs one job per
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
        ...(g.variant.params ? { params: g.variant.params } : {}),
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
 * Exporters whose params have several values, where discovery carries them as `__param_<name>` labels that
 * hold one value each (file_sd, http_sd): refused rather than silently cut to the first value.
 */
export function multiValueParamProblems(config: Config, how: string): string[] {
  const problems: string[] = [];
  config.targets.forEach((t, ti) => {
    t.exporters.forEach((e, ei) => {
      for (const name of multiValued(e.params))
        problems.push(
          `targets[${ti}].exporters[${ei}].params.${name}: has ${e.params?.[name]?.length} values, but ${how} carries each parameter as one __param_${name} label; give it one value, or use static scrape jobs (generate --format prometheus without --discovery http)`,
        );
    });
  });
  return problems;
}

export function monitoringModel(loaded: LoadedConfig, options: ModelOptions): MonitoringModel {
  const problems: string[] = [];
  const jobList = jobs(loaded, problems);
  if (problems.length > 0) throw new GenerateError(loaded.file, problems);
  return { header: { source: options.source, version: options.version }, jobs: jobList };
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
