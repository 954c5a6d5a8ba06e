import { Args, Flags } from "@oclif/core";
import { type GenerateResult, runGenerate } from "../../src/generate/index.js";
import { SshscrapeCommand } from "../base.js";
import { fail, stderrLine } from "../fail.js";

export default class Generate extends SshscrapeCommand {
  static override summary = "Write the NixOS configuration (or Prometheus config) for a target list.";
  static override description =
    "Reads the target list (YAML or JSON), validates it, and writes the monitoring host's NixOS configuration: " +
    "the services.sshscrape options of sshscrape's NixOS module (which defines the system user, the hardened " +
    "unit with the SSH key as a systemd credential, known hosts and Prometheus scrape jobs) and the " +
    "sops-nix/agenix secret; with --remote also each target's services.sshscrape-target. With --out, copies " +
    "of the modules go beside the files (--modules copy), so no flake input is needed. With no --out the one " +
    "file goes to stdout and imports nothing: add sshscrape.nixosModules.default yourself. " +
    "Exit 2 for an invalid list (every problem, one line each), 1 when writing or --verify fails.";
  static override examples = [
    {
      command: "<%= config.bin %> generate hosts.yaml > sshscrape.nix",
      description: "The monitoring host's file on stdout, for the flake's nixosModules.default.",
    },
    {
      command: "<%= config.bin %> generate hosts.yaml --out nixos/sshscrape --split --remote --verify",
      description:
        "secrets.nix, sshscrape.nix and default.nix, the targets' remote.nix and copies of the modules, all parsed by Nix first.",
    },
    {
      command: "<%= config.bin %> generate hosts.yaml --out nixos/sshscrape --modules flake",
      description:
        "Without module copies: the configuration imports sshscrape.nixosModules from a flake input.",
    },
    {
      command: "<%= config.bin %> generate hosts.yaml --format prometheus > scrape.yml",
      description: "Plain prometheus.yml scrape_configs, for Prometheus outside NixOS.",
    },
    {
      command: "<%= config.bin %> generate hosts.yaml --format prometheus --discovery http --shard 1",
      description: "Jobs that discover their targets from the proxy's /sd, keeping shard 1 of shards.count.",
    },
    {
      command:
        "<%= config.bin %> generate hosts.yaml --format prometheus --rules --out /etc/prometheus/sshscrape",
      description: "prometheus.yml plus sshscrape.rules.yml beside it and a job for the proxy's own metrics.",
    },
  ];
  static override args = {
    file: Args.string({ description: "Target list (YAML or JSON).", default: "sshscrape.yaml" }),
  };
  static override flags = {
    out: Flags.directory({
      char: "o",
      summary: "Write files into this directory (created if missing; all files or none).",
    }),
    split: Flags.boolean({
      summary: "secrets.nix and sshscrape.nix apart, plus a default.nix importing them (needs --out).",
      dependsOn: ["out"],
    }),
    remote: Flags.boolean({
      summary:
        "Also write remote.nix: each target's services.sshscrape-target (account, restricted key, exporter binding) (needs --out).",
      dependsOn: ["out"],
    }),
    modules: Flags.option({
      options: ["copy", "flake"] as const,
      summary:
        "copy: write sshscrape's NixOS modules into --out and import them (default with --out); flake: import nothing, the configuration adds sshscrape.nixosModules (default on stdout).",
    })(),
    module: Flags.boolean({
      summary: "Accepted for older scripts; the NixOS output is always the modules' options now.",
      hidden: true,
    }),
    format: Flags.option({
      options: ["nix", "prometheus", "file-sd"] as const,
      default: "nix" as const,
      summary: "nix: NixOS module; prometheus: prometheus.yml scrape_configs; file-sd: file_sd target JSON.",
    })(),
    rules: Flags.boolean({
      summary:
        "With --format prometheus: also write sshscrape.rules.yml (alerts that name each failing host's cause) and a job for the proxy's own /metrics (needs --out).",
      dependsOn: ["out"],
    }),
    base: Flags.directory({
      summary:
        "Directory the printed module will be saved in, for relative secret paths (default: current directory).",
      exclusive: ["out"],
    }),
    verify: Flags.boolean({
      summary: "Check every file with nix-instantiate --parse (and nixfmt --check, promtool) before writing.",
    }),
    force: Flags.boolean({ summary: "Replace files in --out that sshscrape did not write." }),
    discovery: Flags.option({
      options: ["static", "http"] as const,
      default: "static" as const,
      summary:
        "With --format prometheus: list targets in the jobs (static), or discover them from the proxy's /sd (http).",
    })(),
    shard: Flags.integer({
      min: 0,
      summary: "Which shard of the list's `shards` this Prometheus is (overrides shards.index).",
    }),
  };
  static override enableJsonFlag = true;

  async run(): Promise<GenerateResult> {
    const { args, flags } = await this.parse(Generate);
    try {
      const { result, stdout } = await runGenerate({
        file: args.file,
        out: flags.out,
        base: flags.base,
        format: flags.format,
        split: flags.split,
        remote: flags.remote,
        module: flags.module,
        modules: flags.modules,
        verify: flags.verify,
        force: flags.force,
        discovery: flags.discovery,
        shard: flags.shard,
        rules: flags.rules,
      });
      if (!this.jsonEnabled()) {
        for (const warning of result.warnings) stderrLine(warning);
        for (const note of result.verified ?? []) stderrLine(note);
        if (stdout !== undefined) process.stdout.write(stdout);
        else for (const f of result.files) stderrLine(`wrote ${f.path} (${f.bytes} bytes)`);
      }
      return result;
    } catch (err) {
      fail(this, err);
    }
  }
}
