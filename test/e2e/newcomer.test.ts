/**
 * A newcomer follows README.md's "A real deployment" exactly as printed: every command of its code blocks, in
 * order, and the deployments its prose asks for where it asks for them. The test knows no command of its own:
 * it reads them from README (test/e2e/newcomer-readme.ts), so it follows whatever README says, and fails when
 * a step needs something README does not show.
 *
 * Swapped for the lab, and nothing else (a real user has a reachable host on port 22 and a free port 8888):
 * - `db1.example.org` → 127.0.0.1, where a throwaway OpenSSH sshd listens on a free high port, logging in as
 *   this machine's user; `sshscrape init` gets `--ssh-port`, `--ssh-user` and `--listen 127.0.0.1:FREE` added;
 * - `node:9100` → Debian's real node_exporter on a free loopback port;
 * - `sshscrape` on PATH is a link to bin/run.js, which is what `npm link` (README "Install") makes.
 * The deployments README describes in prose (`nixos-rebuild` cannot run here) are stood in for by evaluating
 * the generated files with real nix-instantiate under the NixOS-typed stubs (test/nix/eval-nixos.nix) and
 * applying the result: remote.nix's authorized_keys line goes into the lab sshd; default.nix's unit command
 * line starts the proxy (LoadCredential fed with the key README told the user to put into sops, known_hosts
 * as NixOS writes /etc/ssh/ssh_known_hosts) and its prometheus.yml goes to a real Prometheus. The monitoring
 * host's own configuration adds what any such host has: a key for sops-nix (the sops file itself is not
 * checked: validateSopsFiles off); the unit's build-time config check is off (it needs a build;
 * test/nix/module.test.ts runs it). Not covered: sops itself, real NixOS activation, the target's sshd Match block and its
 * `sshscrape` login user (the lab sshd logs in as this machine's user).
 */
import { execFileSync, spawnSync } from "node:child_process";
import {
  copyFileSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  rmSync,
  symlinkSync,
  writeFileSync,
} from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type NodeExporter, startNodeExporter } from "../helpers/node-exporter.js";
import { freePort, waitFor } from "../helpers/processes.js";
import { checkConfig, type Prometheus, startPrometheus } from "../helpers/prometheus.js";
import { type Sshd, startSshd } from "../helpers/sshd.js";
import { nixEnv } from "../nix/nix.js";
import { execArgv } from "../nix/unit.js";
import { deploymentSteps, readmeSection, type Step } from "./newcomer-readme.js";
import { CLI, REPO_ROOT, type RunningCli, startProxyProcess } from "./proxy-process.js";

const README_HOST = "db1.example.org";
const README_EXPORTER = "node:9100";
const EVAL = join(REPO_ROOT, "test", "nix", "eval-nixos.nix");
const CREDENTIALS_DIR = "/run/credentials/sshscrape.service";

/** What test/nix/eval-nixos.nix returns, the parts used here. */
interface Evaluated {
  failedAssertions: string[];
  users: Record<string, { openssh?: { authorizedKeys?: { keys?: string[] } } }>;
  knownHostsText: string;
  prometheusConfig: Record<string, unknown>;
  sops: Record<string, { key: string; path: string }>;
  nodeExporter: { enable?: boolean; port?: number; listenAddress?: string };
  services: Record<string, { serviceConfig: Record<string, unknown> }>;
}

/** A NixOS evaluation of `modules` (Nix expressions), with real nix-instantiate. */
function evaluate(modules: string[]): Evaluated {
  const expr = `import ${EVAL} { modules = [ ${modules.join(" ")} ]; }`;
  const out = execFileSync(
    "nix-instantiate",
    ["--eval", "--strict", "--json", "--read-write-mode", "-E", expr],
    {
      stdio: "pipe",
      maxBuffer: 64 * 2 ** 20,
      env: nixEnv(),
    },
  );
  const ev = JSON.parse(out.toString()) as Evaluated;
  if (ev.failedAssertions.length > 0)
    throw new Error(`failed assertions:\n${ev.failedAssertions.join("\n")}`);
  return ev;
}

describe("newcomer: README's deployment flow, run as printed", () => {
  const steps: Step[] = deploymentSteps();
  const work = mkdtempSync(join(tmpdir(), "sshscrape-newcomer-"));
  const bin = join(work, ".bin");
  const log: string[] = [];
  let sshd: Sshd;
  let exporter: NodeExporter;
  let proxyPort: number;
  let proxy: RunningCli | undefined;
  let prometheus: Prometheus | undefined;
  let deployedTargets = false;
  let checked = false;

  beforeAll(async () => {
    mkdirSync(bin);
    symlinkSync(CLI, join(bin, "sshscrape"));
    exporter = await startNodeExporter();
    sshd = await startSshd();
    // Nothing may log in until README's remote.nix is deployed.
    sshd.setAuthorizedKeys("");
    proxyPort = await freePort();
  }, 60_000);

  afterAll(async () => {
    await prometheus?.stop();
    await proxy?.stop();
    await sshd?.stop();
    await exporter?.stop();
    rmSync(sshd?.dir ?? join(work, "none"), { recursive: true, force: true });
    rmSync(work, { recursive: true, force: true });
  });

  const context = () =>
    `\n--- what ran so far ---\n${log.join("\n")}\n--- proxy output ---\n${proxy?.output().slice(-3000) ?? ""}`;

  const swap = (argv: string[]): string[] => {
    const out = argv.map((w) =>
      w === README_HOST ? "127.0.0.1" : w === README_EXPORTER ? `node:${exporter.port}` : w,
    );
    if (out[0] === "sshscrape" && out[1] === "init")
      out.push(
        "--ssh-port",
        String(sshd.port),
        "--ssh-user",
        sshd.user,
        "--listen",
        `127.0.0.1:${proxyPort}`,
      );
    return out;
  };

  /** The private key README's ssh-keygen wrote (its -f argument). */
  const keyFile = (): string => {
    const keygen = steps.find((s) => s.kind === "command" && s.argv[0] === "ssh-keygen");
    const argv = keygen?.kind === "command" ? keygen.argv : [];
    const f = argv[argv.indexOf("-f") + 1];
    if (!keygen || !f) throw new Error("README never shows how to create the key pair (ssh-keygen … -f KEY)");
    return join(work, f);
  };

  const runCommand = (argv: string[], line: string) => {
    const [program, ...args] = swap(argv);
    if (program !== "sshscrape" && program !== "ssh-keygen")
      throw new Error(`README asks to run "${program}", which this test has no stand-in for: ${line}`);
    if (program === "sshscrape" && args[0] === "check") {
      expect(deployedTargets, `README runs \`${line}\` before it deploys remote.nix to the targets`).toBe(
        true,
      );
      checked = true;
    }
    const r = spawnSync(program, args, {
      cwd: work,
      encoding: "utf8",
      timeout: 90_000,
      env: { ...process.env, PATH: `${bin}:${process.env.PATH}` },
    });
    log.push(`$ ${[program, ...args].join(" ")}\n${r.stdout}${r.stderr}`.trim());
    expect(r.error, `${line}${context()}`).toBeUndefined();
    expect(r.status, `README step failed: ${line}${context()}`).toBe(0);
  };

  /** remote.nix on "each target": its authorized_keys line is what the target's sshd accepts. */
  const deployTargets = (file: string) => {
    const target = evaluate([`(import ${join(work, file)}).${JSON.stringify("127.0.0.1")}`]);
    const keys = Object.values(target.users).flatMap((u) => u.openssh?.authorizedKeys?.keys ?? []);
    expect(keys.length, `${file} authorizes no key`).toBeGreaterThan(0);
    expect(target.nodeExporter, "remote.nix runs node_exporter on loopback").toMatchObject({
      enable: true,
      listenAddress: "127.0.0.1",
    });
    sshd.setAuthorizedKeys(`${keys.join("\n")}\n`);
    log.push(`(deployed ${file}: authorized_keys = ${keys.join(" | ")})`);
    deployedTargets = true;
  };

  /** default.nix on the monitoring host: the unit's proxy, then Prometheus with the generated jobs. */
  const deployMonitoring = async (file: string) => {
    // What the rest of a monitoring host's configuration provides: a key for sops-nix to decrypt with. The
    // sops file README step 1 has the user make is not a real encrypted file here (validateSopsFiles off).
    const host = `{
      sops.age.keyFile = "/var/lib/sops-nix/key.txt";
      sops.validateSopsFiles = false;
      services.sshscrape.checkConfig = false;
    }`;
    const module = evaluate([join(work, file), host]);
    const service = module.services.sshscrape?.serviceConfig ?? {};
    const credentials = join(work, ".credentials");
    mkdirSync(credentials, { mode: 0o700 });
    const section = readmeSection();
    for (const cred of (service.LoadCredential as string[] | undefined) ?? []) {
      const [id, source] = [cred.slice(0, cred.indexOf(":")), cred.slice(cred.indexOf(":") + 1)];
      // sops-nix decrypts the secret to its path: it holds what README told the user to put under its key.
      const secret = Object.values(module.sops).find((s) => s.path === source);
      if (!secret)
        throw new Error(`LoadCredential ${cred}: not a sops-nix secret this test can stand in for`);
      expect(section, `README never says what goes under the sops key ${secret.key}`).toContain(
        `\`${secret.key}`,
      );
      copyFileSync(keyFile(), join(credentials, id));
    }
    // NixOS writes /etc/ssh/ssh_known_hosts from programs.ssh.knownHosts; this file stands in for it.
    const knownHosts = join(work, ".ssh_known_hosts");
    writeFileSync(knownHosts, module.knownHostsText);
    const argv = execArgv(String(service.ExecStart)).map((a) =>
      a.startsWith(`${CREDENTIALS_DIR}/`) ? join(credentials, a.slice(CREDENTIALS_DIR.length + 1)) : a,
    );
    const [binary, ...args] = argv;
    expect(binary).toMatch(/\/bin\/sshscrape$/);
    proxy = await startProxyProcess(
      [...args, "--known-hosts-file", knownHosts],
      `http://127.0.0.1:${proxyPort}`,
    );
    log.push(`(deployed ${file}: sshscrape ${args.join(" ")})`);
    // systemd runs ExecStartPost (wait for /readyz) before what is ordered after the unit: Prometheus.
    const [post, ...postArgs] = execArgv(String(service.ExecStartPost).replace(/^-/, ""));
    const ready = spawnSync(post as string, postArgs, { encoding: "utf8", timeout: 120_000 });
    expect(ready.status, `ExecStartPost (wait for /readyz)${context()}`).toBe(0);
    // `global` is services.prometheus.globalConfig, which a user sets beside the generated module.
    const yml = { ...module.prometheusConfig, global: { scrape_interval: "5s", evaluation_interval: "5s" } };
    const ymlPath = join(work, ".prometheus.yml");
    writeFileSync(ymlPath, JSON.stringify(yml));
    checkConfig(ymlPath);
    prometheus = await startPrometheus({ config: yml });
  };

  it("README shows every step: key pair, init, keyscan, generate, check, and both deployments", () => {
    const commands = steps.flatMap((s) => (s.kind === "command" ? [s.argv.slice(0, 2).join(" ")] : []));
    expect(commands[0]).toBe("ssh-keygen -t");
    expect(commands).toEqual(
      expect.arrayContaining([
        "sshscrape init",
        "sshscrape keyscan",
        "sshscrape generate",
        "sshscrape check",
      ]),
    );
    expect(steps.map((s) => s.kind)).toEqual(expect.arrayContaining(["deploy-targets", "deploy-monitoring"]));
    // The PATH this test gives `sshscrape` is what README's install step makes.
    expect(readFileSync(join(REPO_ROOT, "README.md"), "utf8")).toMatch(/npm run build && npm link/);
  });

  it("every step runs as printed, in order, and Prometheus scrapes node_exporter through the proxy", async () => {
    for (const step of steps) {
      if (step.kind === "command") runCommand(step.argv, step.line);
      else if (step.kind === "deploy-targets") deployTargets(step.file);
      else await deployMonitoring(step.file);
    }
    expect(checked, "README never runs `sshscrape check`").toBe(true);
    expect(prometheus, "README never deploys the monitoring host").toBeDefined();
    const prom = prometheus as Prometheus;
    // The generated job keeps README's 30 s interval: the first scrape comes within one interval.
    await waitFor(
      `Prometheus: up{instance="127.0.0.1:${exporter.port}"} == 1`,
      async () => (await prom.query(`up{instance="127.0.0.1:${exporter.port}"}`))[0]?.value === 1,
      45_000,
    ).catch(async (err) => {
      throw new Error(`${(err as Error).message}: ${JSON.stringify(await prom.targets())}${context()}`);
    });
    const load = await prom.query(`node_load1{instance="127.0.0.1:${exporter.port}"}`);
    expect(load.length, "a real node_exporter series arrived").toBe(1);
  }, 180_000);
});
