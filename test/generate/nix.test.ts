/**
 * Generated files judged by real tools: Nix parses and evaluates them (stub module arguments, see
 * test/nix/generated-stubs/README.md), the proxy's own loader reads the config file the unit names, and
 * promtool checks the scrape configs. Expected values come from the example lists, not from the output.
 */
import { execFileSync, spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { describe, expect, it } from "vitest";
import { parse } from "yaml";
import {
  type Config,
  joinHostPort,
  loadConfig,
  parseConfig,
  runtimeKeyPath,
  secretName,
} from "../../src/config/index.js";
import { generateFiles } from "../../src/generate/generate.js";
import { exposureScore, renderUnit, type ServiceValue } from "../nix/unit.js";
import { allGoldenCases, EXAMPLES, exampleNames, GOLDEN } from "./golden-cases.js";
import { evalGenerated, parseErrors } from "./nix-eval.js";

// biome-ignore lint/suspicious/noExplicitAny: evaluated Nix is untyped JSON; the assertions are the types
type Json = any;

const config = (example: string): Config => loadConfig(join(EXAMPLES, `${example}.yaml`)).config;

function promtoolCheck(yamlOrJson: string, extra: Record<string, string> = {}): void {
  const dir = mkdtempSync(join(tmpdir(), "sshscrape-promtool-"));
  for (const [name, content] of Object.entries(extra)) writeFileSync(join(dir, name), content);
  writeFileSync(join(dir, "prometheus.yml"), yamlOrJson);
  try {
    execFileSync("promtool", ["check", "config", join(dir, "prometheus.yml")], { stdio: "pipe" });
  } catch (err) {
    const e = err as { stdout?: Buffer; stderr?: Buffer };
    throw new Error(`promtool check config failed:\n${e.stdout}${e.stderr}\n${yamlOrJson}`);
  }
}

// The keys NixOS' services.prometheus.scrapeConfigs submodule declares that we may emit (nix-facts.md);
// anything else breaks NixOS evaluation.
const DECLARED = new Set([
  "job_name",
  "scheme",
  "metrics_path",
  "proxy_url",
  "scrape_interval",
  "scrape_timeout",
  "static_configs",
  "tls_config",
]);

function checkMonitoring(example: string, ev: Json): void {
  const cfg = config(example);
  const user = cfg.proxy.user;
  const group = cfg.proxy.group ?? user;
  expect(ev.users.users[user]).toMatchObject({ isSystemUser: true, group });
  expect(ev.users.groups).toHaveProperty(group);

  const unit = ev.systemd.services.sshscrape;
  const sc = unit.serviceConfig;
  const m =
    /^\/nix\/store\/0+-sshscrape-stub\/bin\/sshscrape proxy --config (\S+) --key-file \$\{CREDENTIALS_DIRECTORY\}\/ssh-key$/.exec(
      sc.ExecStart,
    );
  expect(m, sc.ExecStart).not.toBeNull();
  // The file the unit hands the proxy is one the proxy accepts, and means the same list.
  const proxyList = parseConfig(readFileSync(m?.[1] as string, "utf8"), "unit-config.json").config;
  expect(proxyList.ssh.key).toEqual({ path: "/run/credentials/sshscrape.service/ssh-key" });
  expect(proxyList.targets.map((t) => [t.host, t.exporters])).toEqual(
    cfg.targets.map((t) => [t.host, t.exporters]),
  );
  expect(proxyList.proxy).toEqual(cfg.proxy);
  // Host keys travel through known_hosts only (reload on change, not restart).
  expect(proxyList.targets.flatMap((t) => [...(t.hostKeys ?? []), ...(t.ssh?.jump?.hostKeys ?? [])])).toEqual(
    [],
  );
  expect(JSON.stringify(proxyList)).not.toMatch(/PRIVATE KEY/);

  expect(sc.LoadCredential[0]).toBe(`ssh-key:${runtimeKeyPath(cfg.ssh.key)}`);
  cfg.targets.forEach((t, i) => {
    if (!t.ssh?.key) return;
    const path = proxyList.targets[i]?.ssh?.key;
    expect(path && "path" in path ? path.path : "").toMatch(
      /^\/run\/credentials\/sshscrape\.service\/ssh-key-\d+$/,
    );
    const id = (path as { path: string }).path.split("/").pop();
    expect(sc.LoadCredential).toContain(`${id}:${runtimeKeyPath(t.ssh.key)}`);
  });
  expect(sc).toMatchObject({
    User: user,
    Group: group,
    NoNewPrivileges: true,
    ProtectSystem: "strict",
    ProtectHome: true,
    PrivateTmp: true,
    PrivateDevices: true,
    ProtectKernelTunables: true,
    ProtectKernelModules: true,
    ProtectKernelLogs: true,
    ProtectControlGroups: true,
    RestrictNamespaces: true,
    LockPersonality: true,
    MemoryDenyWriteExecute: false,
    CapabilityBoundingSet: [""],
    UMask: "0077",
  });
  expect(sc.RestrictAddressFamilies.sort()).toEqual(["AF_INET", "AF_INET6", "AF_UNIX"]);
  expect(sc.SystemCallFilter).toContain("@system-service");
  expect(unit.reloadTriggers).toEqual(["/etc/static/ssh/ssh_known_hosts"]);

  // Secrets: owned by the proxy's user, restarting it on change.
  for (const key of [cfg.ssh.key, ...cfg.targets.flatMap((t) => (t.ssh?.key ? [t.ssh.key] : []))]) {
    const name = secretName(key) as string;
    if ("sops" in key) {
      expect(ev.sops.secrets[name]).toMatchObject({
        sopsFile: resolve(EXAMPLES, key.sops.file),
        owner: user,
        restartUnits: ["sshscrape.service"],
        ...(key.sops.key ? { key: key.sops.key } : {}),
      });
    } else if ("agenix" in key) {
      expect(ev.age.secrets[name]).toMatchObject({ file: resolve(EXAMPLES, key.agenix.file), owner: user });
      expect(unit.restartTriggers).toContain(resolve(EXAMPLES, key.agenix.file));
    } else {
      expect(ev.sops).toBeUndefined();
      expect(ev.age).toBeUndefined();
    }
  }

  // known_hosts: every host key under the name ssh looks up ("[host]:port" when the port is not 22).
  const known = Object.values(ev.services.openssh.knownHosts) as Array<{
    hostNames: string[];
    publicKey: string;
  }>;
  let expectedEntries = 0;
  for (const t of cfg.targets) {
    const port = t.ssh?.port ?? cfg.ssh.port;
    const name = port === 22 ? t.host : `[${t.host}]:${port}`;
    for (const k of t.hostKeys ?? []) {
      expectedEntries++;
      expect(known).toContainEqual({ hostNames: [name], publicKey: k });
    }
    for (const k of t.ssh?.jump?.hostKeys ?? []) {
      expectedEntries++;
      const jp = t.ssh?.jump?.port ?? 22;
      expect(known).toContainEqual({
        hostNames: [jp === 22 ? (t.ssh?.jump?.host as string) : `[${t.ssh?.jump?.host}]:${jp}`],
        publicKey: k,
      });
    }
  }
  expect(known.length).toBe(expectedEntries);

  checkScrapeConfigs(cfg, ev.services.prometheus.scrapeConfigs);
}

function checkScrapeConfigs(cfg: Config, jobs: Json[]): void {
  const proxyUrl = `http://${cfg.proxy.listen}`;
  for (const job of jobs) {
    for (const k of Object.keys(job)) expect(DECLARED, `scrapeConfigs key ${k}`).toContain(k);
    expect(job.proxy_url).toBe(proxyUrl);
  }
  for (const t of cfg.targets)
    for (const e of t.exporters) {
      const addr = joinHostPort(t.host, e.port);
      const hits = jobs.flatMap((j) =>
        (j.static_configs as Json[]).filter((s) => s.targets.includes(addr)).map((s) => ({ job: j, sc: s })),
      );
      expect(hits, addr).toHaveLength(1);
      const { job, sc } = hits[0] as { job: Json; sc: Json };
      expect(sc.labels?.job ?? job.job_name).toBe(e.name);
      expect(job.scheme ?? "http").toBe(e.scheme);
      expect(job.metrics_path ?? "/metrics").toBe(e.metricsPath);
      expect(job.scrape_interval).toBe(e.scrapeInterval ?? cfg.defaults.scrapeInterval);
      expect(job.scrape_timeout).toBe(e.scrapeTimeout ?? cfg.defaults.scrapeTimeout);
      expect(job.tls_config).toEqual(
        e.tls && {
          ...(e.tls.caFile ? { ca_file: e.tls.caFile } : {}),
          ...(e.tls.serverName ? { server_name: e.tls.serverName } : {}),
          ...(e.tls.insecureSkipVerify ? { insecure_skip_verify: true } : {}),
        },
      );
      const { job: _job, ...labels } = sc.labels ?? {};
      expect(labels).toEqual({ ...cfg.defaults.labels, ...t.labels, ...e.labels });
    }
  // NixOS runs promtool on what it renders from these; so do we.
  promtoolCheck(JSON.stringify({ scrape_configs: jobs }));
}

/**
 * The unit file NixOS would write from the evaluated unit (test/nix/unit.ts renders it as NixOS does), with
 * ExecStart/ExecReload pointed at /bin/true because the stub store paths do not exist.
 */
function unitFile(unit: Json): string {
  const service: ServiceValue = {
    description: unit.description,
    wantedBy: unit.wantedBy ?? [],
    wants: unit.wants ?? [],
    after: unit.after ?? [],
    before: unit.before ?? [],
    reloadTriggers: unit.reloadTriggers ?? [],
    restartTriggers: unit.restartTriggers ?? [],
    serviceConfig: { ...unit.serviceConfig, ExecStart: "/bin/true", ExecReload: "/bin/true" },
  };
  return renderUnit(service);
}

describe("generated Nix", () => {
  it("every generated .nix file parses (nix-instantiate --parse)", () => {
    const files = allGoldenCases().flatMap((c) =>
      c.files.filter((f) => f.name.endsWith(".nix")).map((f) => join(c.dir, f.name)),
    );
    expect(files.length).toBeGreaterThan(20);
    expect(parseErrors(files)).toEqual([]);
  });

  it("the key's passphrase file and the proxy password file reach the unit as credentials too", () => {
    const dir = mkdtempSync(join(tmpdir(), "sshscrape-cred-"));
    const list = parseConfig(
      [
        "proxy: { auth: { username: prom, passwordFile: /run/secrets/proxy-pw } }",
        "ssh: { key: { path: /var/lib/sshscrape/key }, passphraseFile: /run/secrets/pp }",
        "targets: [{ host: a.example.org, exporters: [{ name: node, port: 9100 }] }]",
      ].join("\n"),
      join(dir, "list.yaml"),
    );
    const [f] = generateFiles(list, {
      source: "list.yaml",
      version: "test",
      base: dir,
      format: "nix",
      split: false,
      remote: false,
      module: false,
    });
    writeFileSync(join(dir, "sshscrape.nix"), f?.content as string);
    const sc = (evalGenerated(join(dir, "sshscrape.nix")) as Json).systemd.services.sshscrape.serviceConfig;
    expect(sc.LoadCredential).toEqual([
      "ssh-key:/var/lib/sshscrape/key",
      "ssh-key-passphrase:/run/secrets/pp",
      "proxy-password:/run/secrets/proxy-pw",
    ]);
    const proxyList = parseConfig(
      readFileSync(/--config (\S+)/.exec(sc.ExecStart)?.[1] as string, "utf8"),
      "x.json",
    ).config;
    expect(proxyList.ssh.passphraseFile).toBe("/run/credentials/sshscrape.service/ssh-key-passphrase");
    expect(proxyList.proxy.auth).toEqual({
      username: "prom",
      passwordFile: "/run/credentials/sshscrape.service/proxy-password",
    });
  });

  for (const example of exampleNames()) {
    describe(example, () => {
      it("single file: user, unit, credentials, secret, known hosts and scrape configs evaluate as the list says", () => {
        checkMonitoring(example, evalGenerated(join(GOLDEN, example, "single/sshscrape.nix")));
      });

      it("the unit, written as NixOS writes it, passes systemd-analyze verify without a warning and scores ≤ 2.0 in systemd-analyze security", () => {
        const ev: Json = evalGenerated(join(GOLDEN, example, "single/sshscrape.nix"));
        const dir = mkdtempSync(join(tmpdir(), "sshscrape-unit-"));
        const file = join(dir, "sshscrape.service");
        writeFileSync(file, unitFile(ev.systemd.services.sshscrape));
        const r = spawnSync("systemd-analyze", ["verify", file], { encoding: "utf8" });
        expect(r.error, "systemd-analyze must be installed (apt-get install systemd)").toBeUndefined();
        expect(
          r.stderr.split("\n").filter((l) => l.includes("sshscrape.service")),
          readFileSync(file, "utf8"),
        ).toEqual([]);
        expect(r.status).toBe(0);
        // The same bar as nix/module.nix's unit (test/nix/module.test.ts): both use one hardening set.
        const score = exposureScore(file);
        expect(score).toBeGreaterThan(0);
        expect(score, readFileSync(file, "utf8")).toBeLessThanOrEqual(2.0);
      });

      it("--split evaluates to the same configuration as the single file", () => {
        const split = evalGenerated(join(GOLDEN, example, "split/default.nix"));
        expect(split).toEqual(evalGenerated(join(GOLDEN, example, "single/sshscrape.nix")));
      });

      it("--remote: each target's user has exactly its exporters' permitopen, node exporter on loopback", () => {
        const cfg = config(example);
        for (const t of cfg.targets) {
          const ev: Json = evalGenerated(join(GOLDEN, example, "split/remote.nix"), t.host);
          const user = t.ssh?.user ?? cfg.ssh.user;
          const remote = t.ssh?.remoteAddress ?? cfg.ssh.remoteAddress;
          const ports = t.exporters.map((e) => e.port).sort((a, b) => a - b);
          expect(ev.users.users[user]).toMatchObject({ isSystemUser: true, group: user });
          expect(ev.users.users[user].openssh.authorizedKeys.keys).toEqual([
            `restrict,port-forwarding,${ports.map((p) => `permitopen="${joinHostPort(remote, p)}"`).join(",")} ${t.ssh?.publicKey ?? cfg.ssh.publicKey}`,
          ]);
          const jump = t.ssh?.jump;
          if (jump) {
            // The jump host may forward to this target's sshd and nowhere else.
            const j: Json = evalGenerated(join(GOLDEN, example, "split/remote.nix"), jump.host);
            expect(j.users.users[jump.user ?? cfg.ssh.user].openssh.authorizedKeys.keys).toEqual([
              `restrict,port-forwarding,permitopen="${joinHostPort(t.host, t.ssh?.port ?? cfg.ssh.port)}" ${t.ssh?.publicKey ?? cfg.ssh.publicKey}`,
            ]);
            expect(j.services).toEqual({ openssh: { enable: true } });
          }
          const node = t.exporters.find((e) => e.name === "node");
          if (node)
            expect(ev.services.prometheus.exporters.node).toEqual({
              enable: true,
              listenAddress: remote,
              port: node.port,
            });
        }
      });

      it("--module: services.sshscrape options carry the list", () => {
        const cfg = config(example);
        const ev: Json = evalGenerated(join(GOLDEN, example, "module/sshscrape.nix"));
        const s = ev.services.sshscrape;
        expect(s).toMatchObject({
          enable: true,
          listenAddress: cfg.proxy.listen.split(":")[0],
          port: Number(cfg.proxy.listen.split(":")[1]),
          user: cfg.proxy.user,
          ssh: {
            user: cfg.ssh.user,
            port: cfg.ssh.port,
            keyFile: runtimeKeyPath(cfg.ssh.key),
            remoteAddress: cfg.ssh.remoteAddress,
          },
        });
        expect(Object.keys(s.targets).sort()).toEqual(cfg.targets.map((t) => t.host).sort());
        for (const t of cfg.targets) {
          const mt = s.targets[t.host];
          expect(mt.hostKeys ?? []).toEqual(t.hostKeys ?? []);
          for (const e of t.exporters) expect(mt.exporters[e.name].port).toBe(e.port);
          if (t.ssh?.key) expect(mt.ssh.keyFile).toBe(runtimeKeyPath(t.ssh.key));
        }
        for (const t of cfg.targets) {
          const r: Json = evalGenerated(join(GOLDEN, example, "module/remote.nix"), t.host);
          const target = r.services["sshscrape-target"];
          expect(target.enable).toBe(true);
          expect(target.authorizedKeys).toEqual([t.ssh?.publicKey ?? cfg.ssh.publicKey]);
          const node = t.exporters.find((e) => e.name === "node");
          expect(target.nodeExporter?.enable ?? false).toBe(node !== undefined);
          expect([...target.exporterPorts, ...(node ? [node.port] : [])].sort()).toEqual(
            t.exporters.map((e) => e.port).sort(),
          );
        }
      });

      it("--format prometheus passes promtool check config and matches the list", () => {
        const text = readFileSync(join(GOLDEN, example, "prometheus/prometheus.yml"), "utf8");
        promtoolCheck(text);
        checkScrapeConfigs(config(example), parse(text).scrape_configs);
      });

      it("--format file-sd is read by promtool as file_sd targets", () => {
        const sd = readFileSync(join(GOLDEN, example, "file-sd/sshscrape-targets.json"), "utf8");
        const groups = JSON.parse(sd) as Array<{ targets: string[]; labels: Record<string, string> }>;
        const cfg = config(example);
        const all = groups.flatMap((g) => g.targets).sort();
        expect(all).toEqual(
          cfg.targets.flatMap((t) => t.exporters.map((e) => joinHostPort(t.host, e.port))).sort(),
        );
        promtoolCheck(
          "scrape_configs:\n  - job_name: sshscrape\n    proxy_url: http://127.0.0.1:8888\n    file_sd_configs: [{ files: [targets.json] }]\n",
          { "targets.json": sd },
        );
      });
    });
  }
});
