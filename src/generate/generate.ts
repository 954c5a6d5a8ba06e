/** Target list → the files `sshscrape generate` writes (names and contents; writing is write.ts). */
import { inShard, type KeySource, type LoadedConfig } from "../config/index.js";
import { GenerateError } from "./errors.js";
import { httpSdJobs } from "./http-sd.js";
import { type Header, type ModelOptions, monitoringModel } from "./model.js";
import { moduleModel } from "./module-model.js";
import { fileSdJson, prometheusYaml } from "./prometheus.js";
import { remoteModel, remoteModuleProblems } from "./remote-model.js";
import { render } from "./render.js";

export type Format = "nix" | "prometheus" | "file-sd";
/** Where generated Prometheus jobs get their targets: listed in the config, or from the proxy's /sd. */
export type Discovery = "static" | "http";

export interface GenerateOptions extends ModelOptions {
  format: Format;
  /** One file per concern plus default.nix importing them. */
  split: boolean;
  /** Also the targets' side: remote.nix. */
  remote: boolean;
  /** `services.sshscrape` / `services.sshscrape-target` options instead of raw units. */
  module: boolean;
  discovery?: Discovery;
}

export interface GeneratedFile {
  name: string;
  content: string;
}

export function generateFiles(loaded: LoadedConfig, options: GenerateOptions): GeneratedFile[] {
  const files = monitoringFiles(loaded, options);
  if (options.remote) {
    const remote = remoteModel(loaded, options);
    if (options.module) {
      const problems = remoteModuleProblems(remote);
      if (problems.length > 0) throw new GenerateError(loaded.file, problems);
    }
    files.push({
      name: "remote.nix",
      content: render(options.module ? "nix/remote-module.nix" : "nix/remote.nix", remote),
    });
  }
  return files;
}

function monitoringFiles(loaded: LoadedConfig, options: GenerateOptions): GeneratedFile[] {
  const shards = loaded.config.shards;
  if (options.format === "prometheus") {
    const jobs = options.discovery === "http" ? httpSdJobs(loaded, shards) : undefined;
    return [
      { name: "prometheus.yml", content: prometheusYaml(monitoringModel(loaded, options), shards, jobs) },
    ];
  }
  // file_sd groups hold no relabeling (that is the reading job's): a shard's file lists only its own hosts.
  if (options.format === "file-sd") {
    const own = { ...loaded.config, targets: loaded.config.targets.filter((t) => inShard(t.host, shards)) };
    return [
      {
        name: "sshscrape-targets.json",
        content: fileSdJson(monitoringModel({ ...loaded, config: own }, options)),
      },
    ];
  }
  // The Nix scrape jobs carry no relabeling yet: every shard would scrape every target.
  if (shards && shards.count > 1)
    throw new GenerateError(loaded.file, [
      `shards: --format ${options.format} cannot shard yet; use --format prometheus (static or --discovery http) or file-sd`,
    ]);
  const agentKeys = agentKeyProblems(loaded);
  if (agentKeys.length > 0) throw new GenerateError(loaded.file, agentKeys);
  if (options.module) {
    const model = moduleModel(loaded, options);
    if (!options.split) return [{ name: "sshscrape.nix", content: render("nix/module.nix", model) }];
    const parts: GeneratedFile[] = [];
    if (model.secrets.length > 0)
      parts.push({ name: "secrets.nix", content: render("nix/secrets.nix", model) });
    parts.push({ name: "sshscrape.nix", content: render("nix/module-main.nix", model) });
    return withDefault(parts, model.header);
  }
  const model = monitoringModel(loaded, options);
  if (!options.split) return [{ name: "sshscrape.nix", content: render("nix/sshscrape.nix", model) }];
  const parts: GeneratedFile[] = [{ name: "users.nix", content: render("nix/users.nix", model) }];
  if (model.secrets.length > 0)
    parts.push({ name: "secrets.nix", content: render("nix/secrets.nix", model) });
  parts.push({ name: "service.nix", content: render("nix/service.nix", model) });
  if (model.knownHosts.length > 0)
    parts.push({ name: "known-hosts.nix", content: render("nix/known-hosts.nix", model) });
  parts.push({ name: "scrape-configs.nix", content: render("nix/scrape-configs.nix", model) });
  return withDefault(parts, model.header);
}

/**
 * The generated unit is a hardened system service: no login session (so no $SSH_AUTH_SOCK), PrivateUsers and
 * PrivateTmp (so no user's agent socket either). An ssh-agent is for `sshscrape proxy` run by a user.
 */
function agentKeyProblems(loaded: LoadedConfig): string[] {
  const { config } = loaded;
  const keys: Array<[string, KeySource | undefined]> = [
    ["ssh.key", config.ssh.key],
    ...config.targets.map((t, i): [string, KeySource | undefined] => [`targets[${i}].ssh.key`, t.ssh?.key]),
  ];
  return keys
    .filter(([, k]) => k !== undefined && "agent" in k)
    .map(
      ([where]) =>
        `${where}: an ssh-agent cannot serve the generated system unit (no login session, private users and /tmp); use a key file, sops or agenix here, or run \`sshscrape proxy\` yourself for agent keys`,
    );
}

function withDefault(parts: GeneratedFile[], header: Header) {
  const imports = parts.map((p) => `./${p.name}`);
  return [...parts, { name: "default.nix", content: render("nix/default.nix", { header, imports }) }];
}
