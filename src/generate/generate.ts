/** Target list → the files `sshscrape generate` writes (names and contents; writing is write.ts). */
import type { LoadedConfig } from "../config/index.js";
import { alertRules, RULES_FILE_NAME, shippedRules } from "./alert-rules.js";
import { GenerateError } from "./errors.js";
import { type Header, type ModelOptions, monitoringModel } from "./model.js";
import { moduleModel } from "./module-model.js";
import { fileSdJson, prometheusYaml } from "./prometheus.js";
import { remoteModel, remoteModuleProblems } from "./remote-model.js";
import { render } from "./render.js";

export type Format = "nix" | "prometheus" | "file-sd";

export interface GenerateOptions extends ModelOptions {
  format: Format;
  /** One file per concern plus default.nix importing them. */
  split: boolean;
  /** Also the targets' side: remote.nix. */
  remote: boolean;
  /** `services.sshscrape` / `services.sshscrape-target` options instead of raw units. */
  module: boolean;
  /** With format prometheus: also the rules file and the job for the proxy's own metrics (docs/alerting.md). */
  rules?: boolean;
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
  if (options.format === "prometheus") {
    const model = monitoringModel(loaded, options);
    if (!options.rules) return [{ name: "prometheus.yml", content: prometheusYaml(model) }];
    const rules = alertRules(loaded.config, model.jobs, loaded.file);
    return [
      { name: "prometheus.yml", content: prometheusYaml(model, rules) },
      { name: RULES_FILE_NAME, content: shippedRules() },
    ];
  }
  if (options.format === "file-sd")
    return [{ name: "sshscrape-targets.json", content: fileSdJson(monitoringModel(loaded, options)) }];
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

function withDefault(parts: GeneratedFile[], header: Header) {
  const imports = parts.map((p) => `./${p.name}`);
  return [...parts, { name: "default.nix", content: render("nix/default.nix", { header, imports }) }];
}
