/**
 * prometheus.yml from a target list the way a NixOS user gets it: `sshscrape generate` writes the module,
 * Nix evaluates `services.prometheus.scrapeConfigs`, and NixOS serialises that list as `scrape_configs`.
 * Nothing in the scrape config is written by hand; only what NixOS itself adds (`global`) and what the
 * target list cannot express (the test CA) is added here, and each addition is reported.
 */
import { execFileSync } from "node:child_process";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { CLI, REPO_ROOT } from "./proxy-process.js";

export interface GeneratedPrometheusConfig {
  /** The generated module, as written by `sshscrape generate`. */
  moduleFile: string;
  /** `services.prometheus.scrapeConfigs` as Nix evaluated it. */
  scrapeConfigs: Array<Record<string, unknown>>;
  /** prometheus.yml content (an object; YAML is a superset of JSON). */
  config: Record<string, unknown>;
  /** Jobs that got a `tls_config.ca_file` added because the generated config had none. */
  caFileAddedTo: string[];
}

function run(cmd: string, args: string[], what: string): string {
  try {
    return execFileSync(cmd, args, { cwd: REPO_ROOT, stdio: "pipe", maxBuffer: 64 * 2 ** 20 }).toString();
  } catch (err) {
    const e = err as { status?: number; stdout?: Buffer; stderr?: Buffer };
    throw new Error(`${what} failed (exit ${e.status}):\n${e.stderr ?? ""}${e.stdout ?? ""}`);
  }
}

export function prometheusConfigFromTargetList(
  listFile: string,
  dir: string,
  options: { scrapeIntervalSeconds: number; caFile: string },
): GeneratedPrometheusConfig {
  const moduleFile = join(dir, "sshscrape.nix");
  writeFileSync(moduleFile, run(process.execPath, [CLI, "generate", listFile], "sshscrape generate"));

  // The module is a NixOS module function; its scrapeConfigs do not depend on `config`, `pkgs` or `lib`,
  // and Nix is lazy, so empty stand-ins for the module arguments are enough to evaluate exactly that list.
  const evalFile = join(dir, "scrape-configs.nix");
  writeFileSync(
    evalFile,
    [
      "let",
      "  m = import ./sshscrape.nix;",
      "  args = { config = { }; pkgs = { }; lib = { }; options = { }; };",
      "in",
      "(if builtins.isFunction m then m args else m).services.prometheus.scrapeConfigs",
      "",
    ].join("\n"),
  );
  const scrapeConfigs = JSON.parse(
    run("nix-instantiate", ["--eval", "--strict", "--json", evalFile], "nix-instantiate --eval"),
  ) as Array<Record<string, unknown>>;

  // The target list has no field for a private CA (issue 3 lists none), so a scheme = "https" job can only
  // trust the system store; this test's exporter uses a throwaway CA, which Prometheus must be told about.
  const caFileAddedTo: string[] = [];
  const scrape_configs = scrapeConfigs.map((job) => {
    if (job.scheme !== "https" || job.tls_config !== undefined) return job;
    caFileAddedTo.push(String(job.job_name));
    return { ...job, tls_config: { ca_file: options.caFile } };
  });

  const interval = `${options.scrapeIntervalSeconds}s`;
  return {
    moduleFile,
    scrapeConfigs,
    // NixOS writes services.prometheus.globalConfig as `global`; these are the values a user would set there.
    config: { global: { scrape_interval: interval, evaluation_interval: interval }, scrape_configs },
    caFileAddedTo,
  };
}
