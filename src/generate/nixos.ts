/**
 * The NixOS output's data: what a user declares for nix/module.nix (`services.sshscrape`) and nix/target.nix
 * (`services.sshscrape-target`), plus the sops-nix/agenix secrets. Everything NixOS does with it (user,
 * unit, credentials, known hosts, scrape jobs, authorized_keys lines, sshd restrictions) is defined once,
 * in those modules; this file only maps the target list onto their options.
 */
import {
  type Config,
  joinHostPort,
  type KeySource,
  type LoadedConfig,
  normalizeHost,
  SYSTEM_KNOWN_HOSTS_FILE,
  sortedParams,
  splitHostPort,
} from "../config/index.js";
import { nixAttr, nixPath } from "../nix/escape.js";
import { type NixData, NixExpr } from "../nix/value.js";
import { GenerateError } from "./errors.js";
import {
  changedProxySettings,
  cmp,
  collectKeys,
  type Header,
  type ModelOptions,
  type Secret,
  timingProblems,
  tlsOf,
} from "./model.js";

type Obj = { [key: string]: NixData | undefined };

/** Leaves out empty objects, empty lists and undefined, so the output says only what differs from a default. */
function compact(o: Obj): Obj | undefined {
  const out: Obj = {};
  for (const [k, v] of Object.entries(o)) {
    if (v === undefined) continue;
    if (Array.isArray(v) && v.length === 0) continue;
    if (
      v &&
      typeof v === "object" &&
      !Array.isArray(v) &&
      !(v instanceof NixExpr) &&
      Object.keys(v).length === 0
    )
      continue;
    out[k] = v;
  }
  return Object.keys(out).length > 0 ? out : undefined;
}

/** `config.sops.secrets."n".path` / `config.age.secrets."n".path`: the runtime path, never the content. */
function secretPath(s: Secret): NixExpr {
  return new NixExpr(`config.${s.kind === "sops" ? "sops" : "age"}.secrets.${nixAttr(s.name)}.path`);
}

export interface MonitoringValues {
  header: Header;
  /** `sops.secrets` / `age.secrets` values (absent when the key is a plain path). */
  sops?: Obj;
  age?: Obj;
  /** agenix has no restartUnits: the unit restarts when an encrypted key file changes. */
  ageTriggers?: NixExpr[];
  /** The `services.sshscrape` value. */
  sshscrape: Obj;
}

export function monitoringValues(
  loaded: LoadedConfig,
  options: ModelOptions & { ownPackage: boolean },
): MonitoringValues {
  const { config, file } = loaded;
  const problems: string[] = [];
  const keys = collectKeys(loaded, options.base, problems);
  const keyFile = (k: KeySource): NixData => {
    if ("path" in k) return k.path;
    const secret = keys.secretOf.get(JSON.stringify(k));
    if (!secret) throw new Error("unreachable: a secret key without its secret");
    return secretPath(secret);
  };
  problems.push(...timingProblems(config), ...moduleProblems(config, file));
  if (problems.length > 0) throw new GenerateError(file, problems);

  const listen = splitHostPort(config.proxy.listen) as { host: string; port: number };
  const attrs = new Set<string>();
  const targets: Obj = {};
  for (const t of config.targets) {
    let attr = t.host;
    for (let n = 2; attrs.has(attr); n++) attr = `${t.host}-${n}`;
    attrs.add(attr);
    const jump = t.ssh?.jump;
    targets[attr] = compact({
      host: attr !== t.host ? t.host : undefined,
      hostKeys: t.hostKeys,
      labels: t.labels,
      ssh: compact({
        user: t.ssh?.user,
        port: t.ssh?.port,
        keyFile: t.ssh?.key ? keyFile(t.ssh.key) : undefined,
        remoteAddress: t.ssh?.remoteAddress,
        jump: jump && compact({ host: jump.host, port: jump.port, user: jump.user, hostKeys: jump.hostKeys }),
      }),
      exporters: Object.fromEntries(
        t.exporters.map((e) => [
          e.name,
          compact({
            port: e.port,
            scheme: e.scheme !== "http" ? e.scheme : undefined,
            metricsPath: e.metricsPath !== "/metrics" ? e.metricsPath : undefined,
            params: sortedParams(e.params),
            labels: e.labels,
            scrapeInterval: e.scrapeInterval,
            scrapeTimeout: e.scrapeTimeout,
            extraMethods: e.extraMethods?.length ? e.extraMethods : undefined,
            tls: tlsOf(e) as Obj | undefined,
          }),
        ]),
      ),
    });
  }

  const sops: Obj = {};
  const age: Obj = {};
  for (const s of keys.secrets) {
    const owner = config.proxy.user;
    if (s.kind === "sops")
      sops[s.name] = compact({
        sopsFile: new NixExpr(nixPath(s.file)),
        key: s.key,
        owner,
        restartUnits: ["sshscrape.service"],
      });
    else age[s.name] = { file: new NixExpr(nixPath(s.file)), owner };
  }
  const ageSecrets = keys.secrets.filter((s) => s.kind === "agenix");

  const sshscrape = compact({
    enable: true,
    package: options.ownPackage ? new NixExpr("pkgs.sshscrape") : undefined,
    listenAddress: listen.host,
    port: listen.port,
    user: config.proxy.user,
    group: config.proxy.group ?? config.proxy.user,
    ssh: {
      user: config.ssh.user,
      port: config.ssh.port,
      keyFile: keyFile(config.ssh.key),
      remoteAddress: config.ssh.remoteAddress,
    },
    knownHostsFile:
      config.proxy.knownHostsFile !== SYSTEM_KNOWN_HOSTS_FILE ? config.proxy.knownHostsFile : undefined,
    allow: config.proxy.allow,
    shard: config.shards && { count: config.shards.count, index: config.shards.index },
    scrapeConfigs: compact({
      scrapeInterval: config.defaults.scrapeInterval,
      scrapeTimeout: config.defaults.scrapeTimeout,
      labels: config.defaults.labels,
    }),
    settings: settingsOf(config),
    targets,
  }) as Obj;
  return {
    header: { source: options.source, version: options.version },
    ...(Object.keys(sops).length > 0 ? { sops } : {}),
    ...(Object.keys(age).length > 0 ? { age } : {}),
    ...(ageSecrets.length > 0
      ? { ageTriggers: ageSecrets.map((s) => new NixExpr(`config.age.secrets.${nixAttr(s.name)}.file`)) }
      : {}),
    sshscrape,
  };
}

/**
 * What services.sshscrape cannot express (the module would assert or key it away): said here with the list
 * entry's path instead of a NixOS option path.
 */
function moduleProblems(config: Config, file: string): string[] {
  const problems: string[] = [];
  config.targets.forEach((t, i) => {
    const names = new Set<string>();
    t.exporters.forEach((e, ei) => {
      if (names.has(e.name))
        problems.push(
          `targets[${i}].exporters[${ei}].name: "${e.name}" appears twice on ${t.host}; services.sshscrape keys a target's exporters by name, so rename one`,
        );
      names.add(e.name);
    });
    if (!t.hostKeys?.length && config.proxy.knownHostsFile === SYSTEM_KNOWN_HOSTS_FILE)
      problems.push(
        `targets[${i}].hostKeys: services.sshscrape writes known_hosts from the targets' host keys, and ${t.host} has none; run \`sshscrape keyscan ${file}\``,
      );
    if (
      t.ssh?.jump &&
      !t.ssh.jump.hostKeys?.length &&
      config.proxy.knownHostsFile === SYSTEM_KNOWN_HOSTS_FILE
    )
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
        sortedParams(e.params) ?? null,
        e.scrapeInterval ?? null,
        e.scrapeTimeout ?? null,
        tlsOf(e) ?? null,
      ]);
      const first = shapes.get(e.name);
      if (!first) shapes.set(e.name, { shape, where: `targets[${i}].exporters[${ei}]` });
      else if (first.shape !== shape)
        problems.push(
          `targets[${i}].exporters[${ei}]: exporters named "${e.name}" form one Prometheus job, so scheme, metricsPath, params, scrapeInterval, scrapeTimeout and tls must match ${first.where}; rename one`,
        );
    });
  });
  return problems;
}

/** What the options do not cover goes into `settings`, merged by the module over the list it derives. */
function settingsOf(config: Config): Obj | undefined {
  const proxy = changedProxySettings(config, ["listen", "user", "group", "knownHostsFile", "allow"]);
  return compact({
    proxy: compact(proxy),
    ssh: compact({ passphraseFile: config.ssh.passphraseFile }),
  });
}

export interface RemoteHostValues {
  host: string;
  /** The `services.sshscrape-target` value. */
  target: Obj;
  /** services.prometheus.exporters.node.port, for the exporter named `node`. */
  nodeExporterPort?: number;
}

export interface RemoteValues {
  header: Header;
  hosts: RemoteHostValues[];
}

/**
 * Each target (and jump host) as services.sshscrape-target accounts: the account the proxy logs in as, its
 * key, and the `HOST:PORT` strings that key may open — exactly what the proxy asks for (the target's
 * `remoteAddress` and exporter ports; on a jump host, the target's sshd as the list names it).
 */
export function remoteValues(loaded: LoadedConfig, options: ModelOptions): RemoteValues {
  const { config, file } = loaded;
  const problems: string[] = [];
  interface Entry {
    host: string;
    /** account → public key → destinations */
    accounts: Map<string, Map<string, Set<string>>>;
    remote?: string;
    node?: number;
  }
  const byHost = new Map<string, Entry>();
  const grant = (host: string, user: string, publicKey: string, open: string) => {
    const h = normalizeHost(host);
    const entry: Entry = byHost.get(h) ?? { host, accounts: new Map() };
    byHost.set(h, entry);
    const keys = entry.accounts.get(user) ?? new Map<string, Set<string>>();
    entry.accounts.set(user, keys);
    const opens = keys.get(publicKey) ?? new Set<string>();
    keys.set(publicKey, opens);
    opens.add(open);
    return entry;
  };
  config.targets.forEach((t, i) => {
    const publicKey = t.ssh?.publicKey ?? (t.ssh?.key ? undefined : config.ssh.publicKey);
    if (!publicKey) {
      problems.push(
        t.ssh?.key
          ? `targets[${i}].ssh.publicKey: needed by --remote for the authorized_keys line of this target's own key; add the public key of targets[${i}].ssh.key`
          : "ssh.publicKey: needed by --remote for the targets' authorized_keys; add the public key line of ssh.key",
      );
      return;
    }
    const user = t.ssh?.user ?? config.ssh.user;
    const remote = t.ssh?.remoteAddress ?? config.ssh.remoteAddress;
    for (const e of t.exporters) {
      const entry = grant(t.host, user, publicKey, joinHostPort(remote, e.port));
      if (e.name === "node") {
        entry.node = e.port;
        entry.remote = remote;
      }
    }
    // The proxy logs into the jump host as jump.user, else as the target's own user (src/proxy/settings.ts),
    // and asks it to open the target's sshd as the list names it (permitopen compares strings).
    const jump = t.ssh?.jump;
    if (jump)
      grant(jump.host, jump.user ?? user, publicKey, joinHostPort(t.host, t.ssh?.port ?? config.ssh.port));
  });
  if (problems.length > 0) throw new GenerateError(file, [...new Set(problems)]);
  const hosts = [...byHost.values()]
    .sort((a, b) => cmp(a.host, b.host))
    .map((entry): RemoteHostValues => {
      const accounts: Obj = {};
      for (const [user, keys] of [...entry.accounts].sort(([a], [b]) => cmp(a, b)))
        accounts[user] = {
          // Every NixOS system declares root; any other account the list names is created.
          ...(user === "root" ? { createUser: false } : {}),
          keys: [...keys]
            .sort(([a], [b]) => cmp(a, b))
            .map(([publicKey, opens]) => ({ publicKey, permitOpen: [...opens].sort(cmp) })),
        };
      const target = compact({
        enable: true,
        remoteAddress: entry.node !== undefined ? entry.remote : undefined,
        nodeExporter: entry.node !== undefined ? { enable: true } : undefined,
        accounts,
      }) as Obj;
      return {
        host: entry.host,
        target,
        ...(entry.node !== undefined ? { nodeExporterPort: entry.node } : {}),
      };
    });
  return { header: { source: options.source, version: options.version }, hosts };
}
