import { Args, Command, Flags } from "@oclif/core";
import { type GenerateResult, runGenerate } from "../../src/generate/index.js";
import { fail, stderrLine } from "../fail.js";

export default class Generate extends Command {
  static override summary = "Write the NixOS configuration (or Prometheus config) for a target list.";
  static override description =
    "Reads the target list (YAML or JSON), validates it, and writes the monitoring host's NixOS module: a " +
    "static system user, a hardened systemd.services.sshscrape running the proxy with the SSH key passed as a " +
    "systemd credential, the sops-nix/agenix secret, services.openssh.knownHosts and " +
    "services.prometheus.scrapeConfigs with proxy_url. With no --out the one module goes to stdout. " +
    "Exit 2 for an invalid list (every problem, one line each), 1 when writing or --verify fails.";
  static override examples = [
    {
      command: "<%= config.bin %> generate hosts.yaml > sshscrape.nix",
      description: "One module on stdout.",
    },
    {
      command: "<%= config.bin %> generate hosts.yaml --out nixos/sshscrape --split --remote --verify",
      description: "One file per concern plus default.nix, the targets' remote.nix, all parsed by Nix first.",
    },
    {
      command: "<%= config.bin %> generate hosts.yaml --module",
      description: "services.sshscrape options for sshscrape's NixOS module instead of raw units.",
    },
    {
      command: "<%= config.bin %> generate hosts.yaml --format prometheus > scrape.yml",
      description: "Plain prometheus.yml scrape_configs, for Prometheus outside NixOS.",
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
      summary: "One file per concern plus a default.nix importing them (needs --out).",
      dependsOn: ["out"],
    }),
    remote: Flags.boolean({
      summary:
        "Also write remote.nix: each target's user, authorized key and exporter binding (needs --out).",
      dependsOn: ["out"],
    }),
    module: Flags.boolean({
      summary:
        "Emit services.sshscrape (and services.sshscrape-target) options for sshscrape's NixOS module.",
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
        verify: flags.verify,
        force: flags.force,
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
