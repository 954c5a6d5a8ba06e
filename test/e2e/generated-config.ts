/**
 * What a NixOS user deploys, produced the way they produce it: `sshscrape generate` writes the configuration,
 * Nix evaluates it together with sshscrape's NixOS module under the NixOS-typed stubs
 * (test/nix/eval-nixos.nix), and the evaluated options are turned into files the way NixOS turns them into
 * files:
 * - `services.prometheus.scrapeConfigs` → prometheus.yml `scrape_configs`;
 * - `services.openssh.knownHosts` → known_hosts text (nixos/modules/programs/ssh.nix, knownHostsText);
 * - `systemd.services.sshscrape` → the proxy's command line (`ExecStart`, unquoted as systemd.syntax(7)
 *   says, with `LoadCredential` copied into a directory standing in for /run/credentials/sshscrape.service
 *   as systemd.exec(5) describes), and the readiness wait systemd runs after it (`ExecStartPost`) before
 *   starting what is ordered after the unit (Prometheus).
 * Two settings differ from the defaults: the proxy's config file is taken unchecked (`checkConfig = false`:
 * its build-time check needs a build, which test/nix/module.test.ts does), and jobs are named after the
 * exporters without the default `sshscrape-` prefix, as this test's queries name them (the prefix is
 * covered by test/nix/module.test.ts and test/generate/nix.test.ts).
 * Nothing in these is written by hand; what is added here (`global`) is said below.
 */
import { execFileSync, spawnSync } from "node:child_process";
import { copyFileSync, mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { nixEnv } from "../nix/nix.js";
import { execArgv } from "../nix/unit.js";
import { CLI, REPO_ROOT } from "./proxy-process.js";

const EVAL = join(REPO_ROOT, "test", "nix", "eval-nixos.nix");
const CREDENTIALS_DIR = "/run/credentials/sshscrape.service";

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
    return execFileSync(cmd, args, {
      cwd: REPO_ROOT,
      stdio: "pipe",
      maxBuffer: 64 * 2 ** 20,
      env: nixEnv(),
    }).toString();
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
    [
      "--eval",
      "--strict",
      "--json",
      "--read-write-mode",
      "-E",
      `import ${EVAL} { sshscrapeModules = true; modules = [ ${moduleFile} { services.sshscrape.checkConfig = false; services.sshscrape.scrapeConfigs.jobNamePrefix = ""; } ]; }`,
    ],
    "nix-instantiate --eval",
  );
  const ev = JSON.parse(json) as {
    failedAssertions: string[];
    scrapeConfigs: Array<Record<string, unknown>>;
    prometheusConfig: { scrape_configs: Array<Record<string, unknown>> };
    knownHosts: Record<string, KnownHostOption>;
    services: EvaluatedModule["systemd"]["services"];
  };
  if (ev.failedAssertions.length > 0)
    throw new Error(`failed assertions:\n${ev.failedAssertions.join("\n")}`);
  return {
    moduleFile,
    module: {
      services: {
        // As NixOS writes prometheus.yml: unset keys dropped.
        prometheus: { scrapeConfigs: ev.prometheusConfig.scrape_configs },
        openssh: { knownHosts: ev.knownHosts },
      },
      systemd: { services: ev.services },
    },
  };
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
  // A list whose proxy reads its own knownHostsFile gets the host keys in its config file instead
  // (nix/module.nix): NixOS then writes no known_hosts entries for it.
  if (entries.length === 0) return "";
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
  // The credentials directory systemd would create, here at credentialsDir.
  const argv = execArgv(service.ExecStart).map((a) =>
    a.startsWith(`${CREDENTIALS_DIR}/`) ? join(credentialsDir, a.slice(CREDENTIALS_DIR.length + 1)) : a,
  );
  const [binary, ...args] = argv;
  if (!binary?.endsWith("/bin/sshscrape") || args[0] !== "proxy") {
    throw new Error(`unexpected ExecStart (want …/bin/sshscrape proxy …): ${service.ExecStart}`);
  }
  return args;
}

/**
 * Runs the unit's `ExecStartPost` as systemd does once ExecStart has started: the generated command (Debian's
 * curl stands in for `pkgs.curl`, test/nix/stub-nixpkgs/pkgs.nix). Returns when it exits, with its
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
  const [cmd, ...args] = execArgv(line.replace(/^-/, ""));
  const started = Date.now();
  const r = spawnSync(cmd as string, args, { encoding: "utf8", timeout: 120_000 });
  if (r.error) throw r.error;
  return { status: r.status ?? -1, ignoreFailure, ms: Date.now() - started };
}
