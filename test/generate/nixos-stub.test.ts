/**
 * Generated files inside the stub NixOS (test/nix/stub-nixpkgs: declared option types, errors for undeclared
 * options, the users/knownHosts assertions) — and `--module` output through the real nix/module.nix and
 * nix/target.nix, so the generator and the NixOS modules are held to the same contract.
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import {
  type Config,
  joinHostPort,
  loadConfig,
  parseConfig,
  runtimeKeyPath,
} from "../../src/config/index.js";
import { generateFiles } from "../../src/generate/generate.js";
import { nixPath, nixString } from "../../src/nix/escape.js";
import { EXAMPLES, exampleNames, GOLDEN, goldenCase, ROOT } from "./golden-cases.js";
import { nixEval } from "./nix-eval.js";

// biome-ignore lint/suspicious/noExplicitAny: evaluated Nix is untyped JSON; the assertions are the types
type Json = any;

const config = (example: string): Config => loadConfig(join(EXAMPLES, `${example}.yaml`)).config;
const WRAPPER = join(ROOT, "test/nix/eval-nixos.nix");

function nixos(modules: string[], sshscrapeModules = false): Json {
  return nixEval(
    `import ${nixPath(WRAPPER)} { sshscrapeModules = ${sshscrapeModules}; modules = [ ${modules.join(" ")} ]; }`,
  );
}
const file = (p: string) => nixPath(p);
const hostModule = (p: string, host: string) => `(import ${nixPath(p)}).${nixString(host)}`;

function expectKnownHosts(cfg: Config, text: string): void {
  for (const t of cfg.targets) {
    const port = t.ssh?.port ?? cfg.ssh.port;
    for (const k of t.hostKeys ?? [])
      expect(text).toContain(`${port === 22 ? t.host : `[${t.host}]:${port}`} ${k}\n`);
    const jump = t.ssh?.jump;
    for (const k of jump?.hostKeys ?? []) {
      const jp = jump?.port ?? 22;
      expect(text).toContain(`${jp === 22 ? jump?.host : `[${jump?.host}]:${jp}`} ${k}\n`);
    }
  }
}

function expectScrapeTargets(cfg: Config, jobs: Json[]): void {
  for (const t of cfg.targets)
    for (const e of t.exporters) {
      const addr = joinHostPort(t.host, e.port);
      const job = jobs.find((j) => j.static_configs.some((s: Json) => s.targets.includes(addr)));
      expect(job, addr).toBeDefined();
      expect(job.proxy_url).toBe(`http://${cfg.proxy.listen}`);
      expect(job.scheme ?? "http").toBe(e.scheme);
    }
}

describe("generated files in the stub NixOS", () => {
  for (const example of exampleNames()) {
    describe(example, () => {
      const cfg = config(example);

      it("raw module (single and --split): no undeclared option, no failed assertion", () => {
        for (const top of ["single/sshscrape.nix", "split/default.nix"]) {
          const ev = nixos([file(join(GOLDEN, example, top))]);
          expect(ev.failedAssertions, top).toEqual([]);
          expect(ev.services.sshscrape.serviceConfig.LoadCredential[0]).toBe(
            `ssh-key:${runtimeKeyPath(cfg.ssh.key)}`,
          );
          expect(ev.users[cfg.proxy.user].isSystemUser).toBe(true);
          expectKnownHosts(cfg, ev.knownHostsText);
          expectScrapeTargets(cfg, ev.scrapeConfigs);
        }
      });

      it("raw remote.nix: every host's module evaluates", () => {
        const hosts = Object.keys(
          nixEval<Record<string, unknown>>(
            `builtins.mapAttrs (_: _: null) (import ${nixPath(join(GOLDEN, example, "split/remote.nix"))})`,
          ),
        );
        for (const host of hosts) {
          const ev = nixos([hostModule(join(GOLDEN, example, "split/remote.nix"), host)]);
          expect(ev.failedAssertions, host).toEqual([]);
        }
      });

      it("--module through nix/module.nix: the proxy gets the same target list, Prometheus the same targets", () => {
        const ev = nixos([file(join(GOLDEN, example, "module/sshscrape.nix"))], true);
        expect(ev.failedAssertions).toEqual([]);
        const sc = ev.services.sshscrape.serviceConfig;
        expect(sc.LoadCredential[0]).toBe(`ssh-key:${runtimeKeyPath(cfg.ssh.key)}`);
        const configPath = /--config'? '?(\/nix\/store\/\S+?\.json)/.exec(sc.ExecStart)?.[1];
        expect(configPath, sc.ExecStart).toBeDefined();
        const proxyList = parseConfig(
          readFileSync(configPath as string, "utf8"),
          "module-config.json",
        ).config;
        // The module names the group explicitly; the list leaves it to default to the user.
        const proxy = (c: Config) => ({ ...c.proxy, group: c.proxy.group ?? c.proxy.user });
        expect(proxy(proxyList)).toEqual(proxy(cfg));
        expect([proxyList.ssh.user, proxyList.ssh.port, proxyList.ssh.remoteAddress]).toEqual([
          cfg.ssh.user,
          cfg.ssh.port,
          cfg.ssh.remoteAddress,
        ]);
        const shape = (c: Config) =>
          c.targets
            .map((t) => ({
              host: t.host,
              user: t.ssh?.user ?? c.ssh.user,
              port: t.ssh?.port ?? c.ssh.port,
              jump: t.ssh?.jump?.host,
              labels: t.labels ?? {},
              exporters: t.exporters
                .map((e) => ({ ...e, labels: e.labels ?? {} }))
                .sort((a, b) => a.name.localeCompare(b.name)),
            }))
            .sort((a, b) => a.host.localeCompare(b.host));
        expect(shape(proxyList)).toEqual(shape(cfg));
        expectKnownHosts(cfg, ev.knownHostsText);
        expectScrapeTargets(cfg, ev.scrapeConfigs);
      });

      it("--module --split (secrets.nix, sshscrape.nix, default.nix) evaluates like the single file", () => {
        const c = goldenCase(example, "module");
        const dir = mkdtempSync(join(GOLDEN, example, ".split-module-"));
        try {
          const files = generateFiles(
            { ...loadConfig(join(EXAMPLES, `${example}.yaml`)), file: `examples/${example}.yaml` },
            {
              source: `examples/${example}.yaml`,
              version: "test",
              base: dir,
              format: "nix",
              split: true,
              remote: false,
              module: true,
            },
          );
          expect(files.map((f) => f.name).sort()).toEqual(
            cfg.ssh.key && !("path" in cfg.ssh.key)
              ? ["default.nix", "secrets.nix", "sshscrape.nix"]
              : ["default.nix", "sshscrape.nix"],
          );
          for (const f of files) writeFileSync(join(dir, f.name), f.content);
          const split = nixos([file(join(dir, "default.nix"))], true);
          const single = nixos([file(join(c.dir, "sshscrape.nix"))], true);
          expect(split.failedAssertions).toEqual([]);
          const { services: a, ...restA } = split;
          const { services: b, ...restB } = single;
          expect(restA).toEqual(restB);
          expect(a.sshscrape.serviceConfig.LoadCredential).toEqual(b.sshscrape.serviceConfig.LoadCredential);
        } finally {
          rmSync(dir, { recursive: true, force: true });
        }
      });

      it("--remote --module through nix/target.nix gives the same key line the raw remote.nix has", () => {
        for (const t of cfg.targets) {
          const raw = nixos([hostModule(join(GOLDEN, example, "split/remote.nix"), t.host)]);
          const mod = nixos([hostModule(join(GOLDEN, example, "module/remote.nix"), t.host)], true);
          expect(mod.failedAssertions, t.host).toEqual([]);
          const user = t.ssh?.user ?? cfg.ssh.user;
          // Same options, key and permitopen set (target.nix lists the node exporter's port last).
          const normalize = (lines: string[]) =>
            lines.map((l) => {
              const [opts, ...key] = l.split(" ");
              return [(opts as string).split(",").sort(), key.join(" ")];
            });
          expect(normalize(mod.users[user].openssh.authorizedKeys.keys)).toEqual(
            normalize(raw.users[user].openssh.authorizedKeys.keys),
          );
          const node = t.exporters.find((e) => e.name === "node");
          if (node)
            expect(mod.nodeExporter).toMatchObject({
              enable: true,
              port: node.port,
              listenAddress: "127.0.0.1",
            });
        }
      });
    });
  }
});
