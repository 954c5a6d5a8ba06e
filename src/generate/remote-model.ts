/**
 * Data for remote.nix (`--remote`): on every target a user whose one key may forward to exactly its
 * exporters, on every jump host a key line that may forward to exactly the targets' sshd behind it.
 */
import { joinHostPort, type LoadedConfig, normalizeHost } from "../config/index.js";
import { GenerateError } from "./errors.js";
import { cmp, type Header, type ModelOptions } from "./model.js";

export interface RemoteUser {
  name: string;
  keyLines: string[];
}

export interface RemoteHost {
  host: string;
  users: RemoteUser[];
  /** Some target is reached through this host (its key line permits the target's sshd). */
  jumpHost?: boolean;
  /** The exporter named `node`: nixpkgs' node exporter, bound where the key's permitopen points. */
  nodeExporter?: { listenAddress: string; port: number };
  /** For `--module`: services.sshscrape-target (absent on a host that is only a jump host). */
  module?: {
    user: string;
    authorizedKeys: string[];
    exporterPorts: number[];
    remoteAddress: string;
    nodeExporterPort?: number;
  };
}

export interface RemoteModel {
  header: Header;
  hosts: RemoteHost[];
}

/** `restrict,port-forwarding,permitopen="HOST:PORT",…` (sshd(8) AUTHORIZED_KEYS FILE FORMAT). */
export function authorizedKeyLine(publicKey: string, opens: Array<{ host: string; port: number }>): string {
  const sorted = [...opens].sort((a, b) => cmp(a.host, b.host) || a.port - b.port);
  return `${["restrict", "port-forwarding", ...sorted.map((o) => `permitopen="${joinHostPort(o.host, o.port)}"`)].join(",")} ${publicKey}`;
}

type Opens = Map<string, { host: string; port: number }>;
interface HostEntry {
  host: string;
  /** user → public key → what that key may open */
  users: Map<string, Map<string, Opens>>;
  jumpHost?: boolean;
  /** Scraped itself (else only a jump host). */
  target?: { user: string; publicKey: string; remote: string; ports: Set<number>; node?: number };
}

export function remoteModel(loaded: LoadedConfig, options: ModelOptions): RemoteModel {
  const { config, file } = loaded;
  const problems: string[] = [];
  const byHost = new Map<string, HostEntry>();
  const grant = (host: string, user: string, publicKey: string, open: { host: string; port: number }) => {
    const h = normalizeHost(host);
    const entry: HostEntry = byHost.get(h) ?? { host, users: new Map() };
    byHost.set(h, entry);
    const keys = entry.users.get(user) ?? new Map<string, Opens>();
    entry.users.set(user, keys);
    const opens: Opens = keys.get(publicKey) ?? new Map();
    keys.set(publicKey, opens);
    opens.set(joinHostPort(open.host, open.port), open);
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
      const entry = grant(t.host, user, publicKey, { host: remote, port: e.port });
      entry.target ??= { user, publicKey, remote, ports: new Set() };
      entry.target.ports.add(e.port);
      if (e.name === "node") entry.target.node = e.port;
    }
    // The jump host forwards to the target's sshd, named as the list names it (permitopen compares strings).
    const jump = t.ssh?.jump;
    if (jump)
      grant(jump.host, jump.user ?? config.ssh.user, publicKey, {
        host: t.host,
        port: t.ssh?.port ?? config.ssh.port,
      }).jumpHost = true;
  });
  if (problems.length > 0) throw new GenerateError(file, [...new Set(problems)]);
  const hosts: RemoteHost[] = [...byHost.values()]
    .sort((a, b) => cmp(a.host, b.host))
    .map((entry) => {
      const users = [...entry.users]
        .sort(([a], [b]) => cmp(a, b))
        .map(([name, keys]) => ({
          name,
          keyLines: [...keys].map(([pk, opens]) => authorizedKeyLine(pk, [...opens.values()])).sort(cmp),
        }));
      const t = entry.target;
      if (!t) return { host: entry.host, users, jumpHost: true };
      return {
        host: entry.host,
        users,
        ...(entry.jumpHost ? { jumpHost: true } : {}),
        ...(t.node !== undefined ? { nodeExporter: { listenAddress: t.remote, port: t.node } } : {}),
        module: {
          user: t.user,
          authorizedKeys: [t.publicKey],
          // services.sshscrape-target adds the node exporter's own port when nodeExporter.enable is set.
          exporterPorts: [...t.ports].filter((p) => p !== t.node).sort((a, b) => a - b),
          remoteAddress: t.remote,
          ...(t.node !== undefined ? { nodeExporterPort: t.node } : {}),
        },
      };
    });
  return { header: { source: options.source, version: options.version }, hosts };
}

/**
 * Problems only `--remote --module` has: services.sshscrape-target holds one user, one key and one address
 * per host, and cannot grant a jump host's forwarding.
 */
export function remoteModuleProblems(model: RemoteModel): string[] {
  const problems: string[] = [];
  for (const h of model.hosts) {
    if (!h.module) continue;
    const keys = h.users.reduce((n, u) => n + u.keyLines.length, 0);
    if (keys > 1 || h.jumpHost)
      problems.push(
        `${h.host}: needs ${h.jumpHost ? "forwarding as a jump host" : `several users or keys (${h.users.map((u) => u.name).join(", ")})`} besides its exporters; services.sshscrape-target cannot say that, so use --remote without --module`,
      );
  }
  return problems;
}
