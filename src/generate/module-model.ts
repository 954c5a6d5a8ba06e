/**
 * Data for `generate --module`: the same target list expressed as `services.sshscrape` options
 * (docs/NIX-MODULE-API: nix/module.nix) instead of raw units, so the flake's module owns the unit.
 */
import {
  type Config,
  type ExporterTls,
  type KeySource,
  type LoadedConfig,
  SYSTEM_KNOWN_HOSTS_FILE,
  splitHostPort,
} from "../config/index.js";
import type { NixData } from "../nix/value.js";
import { GenerateError } from "./errors.js";
import {
  changedProxySettings,
  collectKeys,
  type Header,
  type ModelOptions,
  type Secret,
  tlsOf,
} from "./model.js";

/** A key file: a secret's runtime path (`config.sops.secrets.N.path`) or a plain path string. */
export interface KeyRef {
  secret?: Secret;
  path?: string;
}

export interface ModuleExporter {
  name: string;
  port: number;
  scheme?: "https";
  metricsPath?: string;
  labels?: Record<string, string>;
  scrapeInterval?: string;
  scrapeTimeout?: string;
  tls?: ExporterTls;
}

export interface ModuleTarget {
  attr: string;
  /** Set only when the attribute name is not the host (two targets on one host). */
  host?: string;
  hostKeys?: string[];
  ssh?: {
    user?: string;
    port?: number;
    keyFile?: KeyRef;
    remoteAddress?: string;
    jump?: { host: string; port?: number; user?: string; hostKeys?: string[] };
  };
  labels?: Record<string, string>;
  exporters: ModuleExporter[];
}

export interface ModuleModel {
  header: Header;
  user: string;
  group: string;
  secrets: Secret[];
  listenAddress: string;
  port: number;
  ssh: { user: string; port: number; keyFile: KeyRef; remoteAddress: string };
  knownHostsFile?: string;
  allow?: string[];
  scrapeConfigs: { scrapeInterval?: string; scrapeTimeout?: string; labels?: Record<string, string> };
  settings?: NixData;
  targets: ModuleTarget[];
}

const nonEmpty = <T extends object>(o: T | undefined): T | undefined =>
  o && Object.keys(o).length > 0 ? o : undefined;

export function moduleModel(loaded: LoadedConfig, options: ModelOptions): ModuleModel {
  const { config, file } = loaded;
  const problems: string[] = [];
  const keys = collectKeys(loaded, options.base, problems);
  const secretOf = new Map(keys.credentials.map((c) => [c.id, c]));
  const keyRef = (k: KeySource): KeyRef => {
    if ("path" in k) return { path: k.path };
    const cred = secretOf.get(keys.idOf.get(JSON.stringify(k)) ?? "");
    return { secret: cred?.secret };
  };
  const listen = splitHostPort(config.proxy.listen) as { host: string; port: number };
  const attrs = new Set<string>();
  const targets = config.targets.map((t, i): ModuleTarget => {
    let attr = t.host;
    for (let n = 2; attrs.has(attr); n++) attr = `${t.host}-${n}`;
    attrs.add(attr);
    const names = new Set<string>();
    for (const [ei, e] of t.exporters.entries()) {
      if (names.has(e.name))
        problems.push(
          `targets[${i}].exporters[${ei}].name: "${e.name}" appears twice on ${t.host}; services.sshscrape keys exporters by name, so rename one or use generate without --module`,
        );
      names.add(e.name);
    }
    const ssh = t.ssh
      ? {
          ...(t.ssh.user ? { user: t.ssh.user } : {}),
          ...(t.ssh.port ? { port: t.ssh.port } : {}),
          ...(t.ssh.key ? { keyFile: keyRef(t.ssh.key) } : {}),
          ...(t.ssh.remoteAddress ? { remoteAddress: t.ssh.remoteAddress } : {}),
          ...(t.ssh.jump
            ? {
                jump: {
                  host: t.ssh.jump.host,
                  ...(t.ssh.jump.port ? { port: t.ssh.jump.port } : {}),
                  ...(t.ssh.jump.user ? { user: t.ssh.jump.user } : {}),
                  ...(t.ssh.jump.hostKeys?.length ? { hostKeys: t.ssh.jump.hostKeys } : {}),
                },
              }
            : {}),
        }
      : undefined;
    return {
      attr,
      ...(attr !== t.host ? { host: t.host } : {}),
      ...(t.hostKeys?.length ? { hostKeys: t.hostKeys } : {}),
      ...(nonEmpty(ssh) ? { ssh } : {}),
      ...(nonEmpty(t.labels) ? { labels: t.labels } : {}),
      exporters: [...t.exporters]
        .sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0))
        .map((e) => ({
          name: e.name,
          port: e.port,
          ...(e.scheme === "https" ? { scheme: "https" as const } : {}),
          ...(e.metricsPath !== "/metrics" ? { metricsPath: e.metricsPath } : {}),
          ...(nonEmpty(e.labels) ? { labels: e.labels } : {}),
          ...(e.scrapeInterval ? { scrapeInterval: e.scrapeInterval } : {}),
          ...(e.scrapeTimeout ? { scrapeTimeout: e.scrapeTimeout } : {}),
          ...(tlsOf(e) ? { tls: tlsOf(e) } : {}),
        })),
    };
  });
  // nix/module.nix asserts both; saying it here names the list entry instead of a NixOS option path.
  config.targets.forEach((t, i) => {
    if (!t.hostKeys?.length)
      problems.push(
        `targets[${i}].hostKeys: services.sshscrape writes known_hosts from the targets' host keys, and ${t.host} has none; run \`sshscrape keyscan ${file}\``,
      );
    if (t.ssh?.jump && !t.ssh.jump.hostKeys?.length)
      problems.push(
        `targets[${i}].ssh.jump.hostKeys: the jump host ${t.ssh.jump.host} needs its host keys too`,
      );
  });
  const shapes = new Map<string, { shape: string; where: string }>();
  config.targets.forEach((t, i) => {
    t.exporters.forEach((e, ei) => {
      const shape = JSON.stringify([
        e.scheme,
        e.metricsPath,
        e.scrapeInterval ?? null,
        e.scrapeTimeout ?? null,
        tlsOf(e) ?? null,
      ]);
      const first = shapes.get(e.name);
      if (!first) shapes.set(e.name, { shape, where: `targets[${i}].exporters[${ei}]` });
      else if (first.shape !== shape)
        problems.push(
          `targets[${i}].exporters[${ei}]: exporters named "${e.name}" form one Prometheus job in services.sshscrape, so scheme, metricsPath, scrapeInterval, scrapeTimeout and tls must match ${first.where}; rename one, or use generate without --module`,
        );
    });
  });
  if (problems.length > 0) throw new GenerateError(file, problems);
  const settings = settingsOf(config);
  return {
    header: { source: options.source, version: options.version },
    user: config.proxy.user,
    group: config.proxy.group ?? config.proxy.user,
    secrets: keys.secrets,
    listenAddress: listen.host,
    port: listen.port,
    ssh: {
      user: config.ssh.user,
      port: config.ssh.port,
      keyFile: keyRef(config.ssh.key),
      remoteAddress: config.ssh.remoteAddress,
    },
    ...(config.proxy.knownHostsFile !== SYSTEM_KNOWN_HOSTS_FILE
      ? { knownHostsFile: config.proxy.knownHostsFile }
      : {}),
    ...(config.proxy.allow?.length ? { allow: config.proxy.allow } : {}),
    scrapeConfigs: {
      ...(config.defaults.scrapeInterval ? { scrapeInterval: config.defaults.scrapeInterval } : {}),
      ...(config.defaults.scrapeTimeout ? { scrapeTimeout: config.defaults.scrapeTimeout } : {}),
      ...(nonEmpty(config.defaults.labels) ? { labels: config.defaults.labels } : {}),
    },
    ...(settings ? { settings } : {}),
    targets,
  };
}

/** What the options do not cover goes into `settings`, merged by the module over the list it derives. */
function settingsOf(config: Config): NixData | undefined {
  const proxy = changedProxySettings(config, ["listen", "user", "group", "knownHostsFile", "allow"]);
  const ssh = config.ssh.passphraseFile ? { passphraseFile: config.ssh.passphraseFile } : {};
  const out: Record<string, NixData> = {};
  if (Object.keys(proxy).length > 0) out.proxy = proxy;
  if (Object.keys(ssh).length > 0) out.ssh = ssh;
  return Object.keys(out).length > 0 ? out : undefined;
}
