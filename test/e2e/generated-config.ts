/**
 * What a NixOS user deploys, produced the way they produce it: `sshscrape generate` writes the module, Nix
 * evaluates it (with the generator's stub module arguments, test/nix/generated-stubs/), and the evaluated
 * options are turned into files the way NixOS turns them into files:
 * - `services.prometheus.scrapeConfigs` → prometheus.yml `scrape_configs`;
 * - `services.openssh.knownHosts` → known_hosts text (nixos/modules/programs/ssh.nix, knownHostsText);
 * - `systemd.services.sshscrape` → the proxy's command line (`ExecStart`, with `LoadCredential` copied into
 *   `$CREDENTIALS_DIRECTORY` as systemd.exec(5) describes), and the readiness wait systemd runs after it
 *   (`ExecStartPost`) before starting what is ordered after the unit (Prometheus).
 * Nothing in these is written by hand; what is added here (`global`) is said below.
 */
import { execFileSync, spawnSync } from "node:child_process";
import { copyFileSync, mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { CLI, REPO_ROOT } from "./proxy-process.js";

const STUBS = join(REPO_ROOT, "test", "nix", "generated-stubs", "eval.nix");

interface KnownHostOption {
  hostNames?: string[];
  publicKey?: string;
  certAuthority?: boolean;
}

export interface EvaluatedModule {
  services: {
    prometheus: { scrapeConfigs: Array<Record<string, unknown>> };
    openssh?: { knownHosts?: Record<string, KnownHostOption> };
  };
  systemd: {
    services: {
      sshscrape: {
        before?: string[];
        serviceConfig: { ExecStart: string; ExecStartPost?: string; LoadCredential?: string[] };
      };
    };
  };
}

function run(cmd: string, args: string[], what: string): string {
  try {
    return execFileSync(cmd, args, { cwd: REPO_ROOT, stdio: "pipe", maxBuffer: 64 * 2 ** 20 }).toString();
  } catch (err) {
    const e = err as { status?: number; stdout?: Buffer; stderr?: Buffer };
    throw new Error(`${what} failed (exit ${e.status}):\n${e.stderr ?? ""}${e.stdout ?? ""}`);
  }
}

/** `sshscrape generate LIST` → DIR/sshscrape.nix, evaluated to JSON by real nix-instantiate. */
export function generateAndEvaluate(
  listFile: string,
  dir: string,
): { moduleFile: string; module: EvaluatedModule } {
  const moduleFile = join(dir, "sshscrape.nix");
  writeFileSync(moduleFile, run(process.execPath, [CLI, "generate", listFile], "sshscrape generate"));
  // --read-write-mode: the stub pkgs.writeText is builtins.toFile, so the proxy config the unit names
  // becomes a real file in the store that the proxy below reads.
  const json = run(
    "nix-instantiate",
    ["--eval", "--strict", "--json", "--read-write-mode", "-E", `import ${STUBS} { file = ${moduleFile}; }`],
    "nix-instantiate --eval",
  );
  return { moduleFile, module: JSON.parse(json) as EvaluatedModule };
}

/** prometheus.yml as NixOS writes it from `services.prometheus`: the generated scrape jobs as they are. */
export function prometheusYml(
  module: EvaluatedModule,
  options: { scrapeIntervalSeconds: number },
): Record<string, unknown> {
  const interval = `${options.scrapeIntervalSeconds}s`;
  return {
    // `global` is services.prometheus.globalConfig, which a user sets beside the generated module.
    global: { scrape_interval: interval, evaluation_interval: interval },
    scrape_configs: module.services.prometheus.scrapeConfigs,
  };
}

/** /etc/ssh/ssh_known_hosts as NixOS writes it from `programs.ssh.knownHosts` (alias services.openssh.knownHosts). */
export function knownHostsText(module: EvaluatedModule): string {
  const entries = Object.entries(module.services.openssh?.knownHosts ?? {});
  if (entries.length === 0) throw new Error("the generated module has no services.openssh.knownHosts");
  return `${entries
    .map(([name, h]) => {
      if (!h.publicKey) throw new Error(`knownHosts.${name}: expected publicKey`);
      return `${h.certAuthority ? "@cert-authority " : ""}${(h.hostNames ?? [name]).join(",")} ${h.publicKey}`;
    })
    .join("\n")}\n`;
}

/**
 * The unit's ExecStart as argv for running the built CLI here: the packaged binary becomes `bin/run.js`,
 * and `LoadCredential=ID:PATH` files are copied into `credentialsDir`, which `${CREDENTIALS_DIRECTORY}` names.
 */
export function proxyArgsFromUnit(module: EvaluatedModule, credentialsDir: string): string[] {
  const service = module.systemd.services.sshscrape.serviceConfig;
  mkdirSync(credentialsDir, { recursive: true, mode: 0o700 });
  for (const cred of service.LoadCredential ?? []) {
    const colon = cred.indexOf(":");
    copyFileSync(cred.slice(colon + 1), join(credentialsDir, cred.slice(0, colon)));
  }
  // systemd's own ${VAR} expansion of the unit's environment (systemd.service(5), "Command lines").
  const argv = service.ExecStart.replaceAll(/\$\{CREDENTIALS_DIRECTORY\}/g, credentialsDir).split(/\s+/);
  const [binary, ...args] = argv;
  if (!binary?.endsWith("/bin/sshscrape") || args[0] !== "proxy") {
    throw new Error(`unexpected ExecStart (want …/bin/sshscrape proxy …): ${service.ExecStart}`);
  }
  return args;
}

/**
 * Runs the unit's `ExecStartPost` as systemd does once ExecStart has started: the generated command (Debian's
 * curl stands in for `pkgs.curl`, test/nix/generated-stubs/pkgs.nix). Returns when it exits, with its
 * status and how long it took; a leading "-" (failure ignored by systemd) is reported, not hidden.
 */
export function runExecStartPost(module: EvaluatedModule): {
  status: number;
  ignoreFailure: boolean;
  ms: number;
} {
  const line = module.systemd.services.sshscrape.serviceConfig.ExecStartPost;
  if (!line) throw new Error("the generated unit has no ExecStartPost");
  const ignoreFailure = line.startsWith("-");
  const [cmd, ...args] = line.replace(/^-/, "").split(/\s+/);
  const started = Date.now();
  const r = spawnSync(cmd as string, args, { encoding: "utf8", timeout: 120_000 });
  if (r.error) throw r.error;
  return { status: r.status ?? -1, ignoreFailure, ms: Date.now() - started };
}
