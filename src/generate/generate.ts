/** Target list → the files `sshscrape generate` writes (names and contents; writing is write.ts). */
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { inShard, type KeySource, type LoadedConfig } from "../config/index.js";
import { nixPath } from "../nix/escape.js";
import { NixExpr } from "../nix/value.js";
import { packageRoot } from "../version.js";
import { alertRules, RULES_FILE_NAME, shippedRules } from "./alert-rules.js";
import { GenerateError } from "./errors.js";
import { httpSdJobs } from "./http-sd.js";
import { type ModelOptions, monitoringModel, multiValueParamProblems } from "./model.js";
import { monitoringValues, remoteValues } from "./nixos.js";
import { fileSdJson, prometheusYaml } from "./prometheus.js";
import { render } from "./render.js";

export type Format = "nix" | "prometheus" | "file-sd";
/** Where generated Prometheus jobs get their targets: listed in the config, or from the proxy's /sd. */
export type Discovery = "static" | "http";

/**
 * Where the NixOS modules come from: `flake` — the user imports sshscrape's nixosModules (a flake input);
 * `copy` — byte-identical copies of nix/module.nix and nix/target.nix go into the output directory and the
 * generated files import them, so the output stands alone.
 */
export type ModulesFrom = "flake" | "copy";

export interface GenerateOptions extends ModelOptions {
  format: Format;
  /** secrets.nix and sshscrape.nix apart, plus default.nix importing them. */
  split: boolean;
  /** Also the targets' side: remote.nix. */
  remote: boolean;
  modules: ModulesFrom;
  discovery?: Discovery;
  /** With format prometheus: also the rules file and the job for the proxy's own metrics (docs/alerting.md). */
  rules?: boolean;
}

export interface GeneratedFile {
  name: string;
  content: string;
  /** A file that is not ours by its first line (the module copies): ours when it starts with this. */
  ownPrefix?: string;
}

/** The module files `--modules copy` writes, as the package ships them. */
export const MODULE_COPIES = {
  monitoring: { name: "modules/sshscrape.nix", source: "nix/module.nix" },
  target: { name: "modules/sshscrape-target.nix", source: "nix/target.nix" },
} as const;

function moduleCopy(which: keyof typeof MODULE_COPIES): GeneratedFile {
  const { name, source } = MODULE_COPIES[which];
  const content = readFileSync(join(packageRoot(), source), "utf8");
  // "# services.sshscrape:" / "# services.sshscrape-target:": an older copy of the same module is ours too.
  return { name, content, ownPrefix: `${content.split(":")[0]}:` };
}

export function generateFiles(loaded: LoadedConfig, options: GenerateOptions): GeneratedFile[] {
  const shards = loaded.config.shards;
  if (options.format === "prometheus") {
    const model = monitoringModel(loaded, options);
    const jobs = options.discovery === "http" ? httpSdJobs(loaded, shards) : undefined;
    if (!options.rules)
      return [{ name: "prometheus.yml", content: prometheusYaml(model, undefined, shards, jobs) }];
    const rules = alertRules(loaded.config, model.jobs, loaded.file);
    return [
      { name: "prometheus.yml", content: prometheusYaml(model, rules, shards, jobs) },
      { name: RULES_FILE_NAME, content: shippedRules() },
    ];
  }
  // file_sd groups hold no relabeling (that is the reading job's): a shard's file lists only its own hosts.
  if (options.format === "file-sd") {
    const own = { ...loaded.config, targets: loaded.config.targets.filter((t) => inShard(t.host, shards)) };
    const multi = multiValueParamProblems(own, "file_sd");
    if (multi.length > 0) throw new GenerateError(loaded.file, multi);
    return [
      {
        name: "sshscrape-targets.json",
        content: fileSdJson(monitoringModel({ ...loaded, config: own }, options)),
      },
    ];
  }
  const agentKeys = agentKeyProblems(loaded);
  if (agentKeys.length > 0) throw new GenerateError(loaded.file, agentKeys);

  const copy = options.modules === "copy";
  const values = monitoringValues(loaded, { ...options, ownPackage: copy });
  const paths = (list: string[]) => list.map((p) => new NixExpr(nixPath(p)));
  const imports = (which: keyof typeof MODULE_COPIES) => (copy ? [`./${MODULE_COPIES[which].name}`] : []);
  const common = { header: values.header, flake: !copy };
  const files: GeneratedFile[] = [];
  if (!options.split) {
    files.push({
      name: "sshscrape.nix",
      content: render("nix/sshscrape.nix", {
        ...common,
        ...values,
        secretsHere: true,
        imports: paths(imports("monitoring")),
      }),
    });
  } else {
    const parts: string[] = [];
    if (values.sops || values.age) {
      files.push({ name: "secrets.nix", content: render("nix/secrets.nix", { ...common, ...values }) });
      parts.push("./secrets.nix");
    }
    files.push({
      name: "sshscrape.nix",
      content: render("nix/sshscrape.nix", { ...common, ...values, secretsHere: false, imports: [] }),
    });
    parts.push("./sshscrape.nix");
    files.push({
      name: "default.nix",
      content: render("nix/default.nix", { ...common, imports: paths([...imports("monitoring"), ...parts]) }),
    });
  }
  if (options.remote) {
    const remote = remoteValues(loaded, options);
    files.push({
      name: "remote.nix",
      content: render("nix/remote.nix", { ...common, ...remote, imports: paths(imports("target")) }),
    });
  }
  if (copy) {
    files.push(moduleCopy("monitoring"));
    if (options.remote) files.push(moduleCopy("target"));
  }
  return files;
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
