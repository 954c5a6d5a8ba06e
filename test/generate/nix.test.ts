/**
 * Generated files judged the way NixOS and real tools judge them: Nix parses them, the NixOS-typed stubs
 * evaluate them together with sshscrape's modules (test/nix/eval-nixos.nix; SSHSCRAPE_NIXPKGS_LIB runs the
 * same evaluation on a real nixpkgs lib), the proxy's own loader reads the config file the unit names,
 * promtool checks the scrape configs and systemd-analyze the unit. Expected values come from the example
 * lists and are written out here, never read back from the output.
 */
import { execFileSync, spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { parse } from "yaml";
import { type Config, joinHostPort, loadConfig, parseConfig } from "../../src/config/index.js";
import { generateFiles } from "../../src/generate/generate.js";
import { nixPath, nixString } from "../../src/nix/escape.js";
import { nixEvalJson, repoRoot } from "../nix/nix.js";
import { execArgv, exposureScore, renderUnit, type ServiceValue } from "../nix/unit.js";
import { allGoldenCases, EXAMPLES, exampleNames, GOLDEN } from "./golden-cases.js";
import { parseErrors } from "./nix-eval.js";

// biome-ignore lint/suspicious/noExplicitAny: evaluated Nix is untyped JSON; the assertions are the types
type Json = any;

const config = (example: string): Config => loadConfig(join(EXAMPLES, `${example}.yaml`)).config;

/**
 * The evaluated NixOS configuration of generated files. `flake`: the files need sshscrape's modules from the
 * flake (`generate` on stdout), so nix/module.nix and nix/target.nix are imported; otherwise the files import
 * their own copies. The sops files of the examples are not real encrypted files (validateSopsFiles off; the
 * sopsFile path is checked by value), and the config file is read unchecked (its build-time check has its
 * own test in test/nix/module.test.ts). The key sources sops-nix and agenix need are set as a host's own
 * configuration would set them.
 */
function evalNixos(modules: string[], flake: boolean): Json {
  return nixEvalJson(
    `import ${nixPath(join(repoRoot, "test/nix/eval-nixos.nix"))} { sshscrapeModules = ${flake}; modules = [
      ${modules.join("\n")}
      ({ options, lib, ... }: {
        # What the rest of a monitoring host's configuration provides: a key source for sops-nix and
        # agenix (by default the host's SSH keys, when sshd runs there).
        config = {
          sops.validateSopsFiles = false;
          sops.age.keyFile = "/var/lib/sops-nix/key.txt";
          age.identityPaths = [ "/etc/ssh/ssh_host_ed25519_key" ];
        } // lib.optionalAttrs (options.services ? sshscrape) { services.sshscrape.checkConfig = false; };
      })
    ]; }`,
  );
}
const file = (p: string) => nixPath(p);
const hostModule = (p: string, host: string) => `(import ${nixPath(p)}).${nixString(host)}`;

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

const CREDENTIALS = "/run/credentials/sshscrape.service";

/**
 * What each example's keys become, written out: the runtime path systemd loads the key from (a sops-nix or
 * agenix secret's default path, or the plain file), and the secrets declared for them.
 */
const KEYS: Record<
  string,
  {
    main: string;
    targets: Record<string, string>;
    sops: Record<string, { sopsFile: string; key: string }>;
    age: Record<string, { file: string }>;
  }
> = {
  minimal: { main: "/var/lib/sshscrape/id_ed25519", targets: {}, sops: {}, age: {} },
  sops: {
    main: "/run/secrets/sshscrape-ssh-key",
    targets: {},
    sops: {
      "sshscrape-ssh-key": { sopsFile: join(EXAMPLES, "secrets/monitoring.yaml"), key: "sshscrape_ssh_key" },
    },
    age: {},
  },
  agenix: {
    main: "/run/agenix/sshscrape-ssh-key",
    targets: { "app.internal.example.org": "/run/agenix/sshscrape-app-key" },
    sops: {},
    age: {
      "sshscrape-ssh-key": { file: join(EXAMPLES, "secrets/sshscrape.age") },
      "sshscrape-app-key": { file: join(EXAMPLES, "secrets/app-key.age") },
    },
  },
};

function checkMonitoring(example: string, ev: Json): void {
  const cfg = config(example);
  const user = cfg.proxy.user;
  const group = cfg.proxy.group ?? user;
  expect(ev.failedAssertions).toEqual([]);
  expect(ev.users[user]).toMatchObject({
    isSystemUser: true,
    isNormalUser: false,
    group,
    description: "sshscrape, Prometheus scrapes over SSH",
  });
  expect(ev.groups).toHaveProperty(group);

  const unit = ev.services.sshscrape;
  const sc = unit.serviceConfig;
  const argv = execArgv(sc.ExecStart);
  const configFile = argv[3] as string;
  expect(argv).toEqual([
    "/nix/store/00000000000000000000000000000000-sshscrape-stub/bin/sshscrape",
    "proxy",
    "--config",
    expect.stringMatching(/^\/nix\/store\/[a-z0-9]{32}-sshscrape\.json$/),
    "--key-file",
    `${CREDENTIALS}/ssh-key`,
  ]);
  expect(unit.wantedBy).toEqual(["multi-user.target"]);
  expect(unit.wants).toEqual(["network-online.target"]);
  expect(unit.after).toEqual(["network-online.target"]);
  expect(unit.before).toEqual(["prometheus.service"]);
  expect(sc).toMatchObject({ Type: "exec", Restart: "on-failure", RestartSec: "5s" });
  expect(sc.ExecReload).toMatch(/^"\/\S+\/bin\/kill" -HUP \$MAINPID$/);
  const post = execArgv(sc.ExecStartPost.replace(/^-/, ""));
  expect(sc.ExecStartPost.startsWith("-")).toBe(true);
  expect(post.at(-1)).toBe(`http://${cfg.proxy.listen.replace(/^0\.0\.0\.0:/, "127.0.0.1:")}/readyz`);

  // The file the unit hands the proxy is one the proxy accepts, and means the same list.
  const proxyList = parseConfig(readFileSync(configFile, "utf8"), "unit-config.json").config;
  expect(proxyList.ssh.key).toEqual({ path: `${CREDENTIALS}/ssh-key` });
  const exporters = (c: Config) =>
    c.targets.map((t) => [t.host, [...t.exporters].sort((a, b) => a.name.localeCompare(b.name))]);
  expect(exporters(proxyList)).toEqual(exporters(cfg));
  expect({ ...proxyList.proxy, group: proxyList.proxy.group ?? user }).toEqual({
    ...cfg.proxy,
    group,
  });
  // Host keys travel through known_hosts only (reload on change, not restart).
  expect(proxyList.targets.flatMap((t) => [...(t.hostKeys ?? []), ...(t.ssh?.jump?.hostKeys ?? [])])).toEqual(
    [],
  );
  expect(JSON.stringify(proxyList)).not.toMatch(/PRIVATE KEY/);

  const keys = KEYS[example];
  if (!keys) throw new Error(`add examples/${example}.yaml's keys to KEYS`);
  const perTarget = cfg.targets.flatMap((t, i) => {
    const runtime = keys.targets[t.host];
    if (!t.ssh?.key || !runtime) return [];
    const path = proxyList.targets[i]?.ssh?.key;
    const id = (path as { path: string }).path.replace(`${CREDENTIALS}/`, "");
    expect(id).toMatch(/^ssh-key-[0-9a-f]{12}$/);
    return [`${id}:${runtime}`];
  });
  expect(perTarget).toHaveLength(Object.keys(keys.targets).length);
  expect(sc.LoadCredential).toEqual([`ssh-key:${keys.main}`, ...perTarget]);
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
  expect([...sc.RestrictAddressFamilies].sort()).toEqual(["AF_INET", "AF_INET6", "AF_UNIX"]);
  expect(sc.SystemCallFilter).toEqual(["@system-service", "~@privileged", "~@resources"]);
  expect(unit.reloadTriggers).toHaveLength(1);
  expect(readFileSync(unit.reloadTriggers[0], "utf8")).toBe(ev.knownHostsText);

  // Secrets: owned by the proxy's user, restarting it on change.
  expect(Object.keys(ev.sops).sort()).toEqual(Object.keys(keys.sops).sort());
  for (const [name, s] of Object.entries(keys.sops))
    expect(ev.sops[name]).toMatchObject({
      ...s,
      owner: user,
      path: `/run/secrets/${name}`,
      restartUnits: ["sshscrape.service"],
    });
  expect(Object.keys(ev.age).sort()).toEqual(Object.keys(keys.age).sort());
  for (const [name, a] of Object.entries(keys.age)) {
    expect(ev.age[name]).toMatchObject({ ...a, owner: user, path: `/run/agenix/${name}` });
    expect(unit.restartTriggers).toContain(a.file);
  }

  // known_hosts: every host key under the name ssh looks up ("[host]:port" when the port is not 22).
  const expected: string[] = [];
  for (const t of cfg.targets) {
    const port = t.ssh?.port ?? cfg.ssh.port;
    for (const k of t.hostKeys ?? []) expected.push(`${port === 22 ? t.host : `[${t.host}]:${port}`} ${k}`);
    const jump = t.ssh?.jump;
    const jp = jump?.port ?? 22;
    for (const k of jump?.hostKeys ?? [])
      expected.push(`${jp === 22 ? jump?.host : `[${jump?.host}]:${jp}`} ${k}`);
  }
  expect(ev.knownHostsText.trim().split("\n").sort()).toEqual(expected.sort());

  checkScrapeConfigs(cfg, ev.prometheusConfig.scrape_configs, "sshscrape-");
}

/** Each exporter of the list in exactly one job named PREFIX + its name, through the proxy. */
function checkScrapeConfigs(cfg: Config, jobs: Json[], prefix: string): void {
  const [host, port] = [cfg.proxy.listen.replace(/:\d+$/, ""), cfg.proxy.listen.replace(/^.*:/, "")];
  const proxyUrl = `http://${joinHostPort(host === "0.0.0.0" ? "127.0.0.1" : host, Number(port))}`;
  for (const job of jobs) expect(job.proxy_url).toBe(proxyUrl);
  for (const t of cfg.targets)
    for (const e of t.exporters) {
      const addr = joinHostPort(t.host, e.port);
      const hits = jobs.flatMap((j) =>
        (j.static_configs as Json[]).filter((s) => s.targets.includes(addr)).map((s) => ({ job: j, sc: s })),
      );
      expect(hits, addr).toHaveLength(1);
      const { job, sc } = hits[0] as { job: Json; sc: Json };
      expect(sc.labels?.job ?? job.job_name).toBe(`${prefix}${e.name}`);
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
  // NixOS runs promtool on what it renders from these, next to the host's own jobs; so do we.
  promtoolCheck(
    JSON.stringify({
      scrape_configs: [
        ...jobs,
        ...(prefix ? [{ job_name: "node", static_configs: [{ targets: ["localhost:9100"] }] }] : []),
      ],
    }),
  );
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

  it("the module copies in --out are byte-identical to the package's nix/module.nix and nix/target.nix", () => {
    for (const c of allGoldenCases().filter((c) => c.shape === "out" || c.shape === "split")) {
      const copies = Object.fromEntries(
        c.files.filter((f) => f.name.startsWith("modules/")).map((f) => [f.name, f.content]),
      );
      expect(copies).toEqual({
        "modules/sshscrape.nix": readFileSync(join(repoRoot, "nix/module.nix"), "utf8"),
        "modules/sshscrape-target.nix": readFileSync(join(repoRoot, "nix/target.nix"), "utf8"),
      });
    }
  });

  it("the key's passphrase file and the proxy password file reach the unit as credentials too", () => {
    const dir = mkdtempSync(join(tmpdir(), "sshscrape-cred-"));
    const list = parseConfig(
      [
        "proxy: { auth: { username: prom, passwordFile: /run/secrets/proxy-pw } }",
        "ssh: { key: { path: /var/lib/sshscrape/key }, passphraseFile: /run/secrets/pp }",
        "targets: [{ host: a.example.org, hostKeys: ['ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIMaox8osPCTxv6HRrHRIGHDaD4dMA2LmU4tG8UKzxIwE'], exporters: [{ name: node, port: 9100 }] }]",
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
      modules: "flake",
    });
    writeFileSync(join(dir, "sshscrape.nix"), f?.content as string);
    const ev = evalNixos([file(join(dir, "sshscrape.nix"))], true);
    expect(ev.failedAssertions).toEqual([]);
    const sc = ev.services.sshscrape.serviceConfig;
    expect(sc.LoadCredential).toEqual([
      "ssh-key:/var/lib/sshscrape/key",
      "proxy-password:/run/secrets/proxy-pw",
      "ssh-key-passphrase:/run/secrets/pp",
    ]);
    const proxyList = parseConfig(readFileSync(execArgv(sc.ExecStart)[3] as string, "utf8"), "x.json").config;
    expect(proxyList.ssh.passphraseFile).toBe(`${CREDENTIALS}/ssh-key-passphrase`);
    expect(proxyList.proxy.auth).toEqual({ username: "prom", passwordFile: `${CREDENTIALS}/proxy-password` });
  });

  it("the generated output and the module configured by hand with the same list give the same unit, users, known hosts and scrape jobs", () => {
    // examples/agenix.yaml written as a NixOS user would configure the flake's module directly.
    const byHand = `{ config, ... }: {
      age.secrets.sshscrape-ssh-key = { file = ${nixPath(join(EXAMPLES, "secrets/sshscrape.age"))}; owner = "sshscrape"; };
      age.secrets.sshscrape-app-key = { file = ${nixPath(join(EXAMPLES, "secrets/app-key.age"))}; owner = "sshscrape"; };
      systemd.services.sshscrape.restartTriggers = [ config.age.secrets.sshscrape-app-key.file config.age.secrets.sshscrape-ssh-key.file ];
      services.sshscrape = {
        enable = true;
        port = 9999;
        allow = [ "*.internal.example.org:*" ];
        ssh = { port = 2222; keyFile = config.age.secrets.sshscrape-ssh-key.path; };
        targets."2001:db8::10" = {
          hostKeys = [ "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAINMVVSyZn9TM+v+TFKeoIBH+X6RMaBXdop+y9YUPidTo" ];
          exporters.node.port = 9100;
        };
        targets."app.internal.example.org" = {
          hostKeys = [ "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIELpeTmPzbzs4OxPUwMS9BfrgtsYxt6e4mBxbN/go9hk" ];
          ssh = {
            port = 22;
            user = "scrape";
            keyFile = config.age.secrets.sshscrape-app-key.path;
            jump = {
              host = "bastion.example.org";
              hostKeys = [ "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIHDOmT4rHG8LoKUB2WGvAMKmIFprxFCzF8tzKP+GNX7L" ];
            };
          };
          exporters.node.port = 9101;
          exporters.app = { port = 8080; scrapeTimeout = "5s"; };
        };
      };
    }`;
    const hand = evalNixos([`(${byHand})`], true);
    const generated = evalNixos([file(join(GOLDEN, "agenix/out/sshscrape.nix"))], false);
    expect(hand.failedAssertions).toEqual([]);
    for (const k of ["services", "users", "groups", "knownHosts", "knownHostsText", "scrapeConfigs", "age"])
      expect(generated[k], k).toEqual(hand[k]);
  });

  it("--remote: a host that is scraped and a jump host at once gets both accounts, each key limited to its own destinations", () => {
    const dir = mkdtempSync(join(tmpdir(), "sshscrape-jump-"));
    const key = (n: string) =>
      `ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIMaox8osPCTxv6HRrHRIGHDaD4dMA2LmU4tG8UKzxIw${n} k${n}`;
    const list = parseConfig(
      JSON.stringify({
        ssh: { key: { path: "/k" }, publicKey: key("A"), remoteAddress: "::1" },
        targets: [
          { host: "bastion.example.org", hostKeys: [key("B")], exporters: [{ name: "node", port: 9100 }] },
          {
            host: "2001:db8::7",
            hostKeys: [key("C")],
            ssh: { port: 2222, user: "inner", jump: { host: "bastion.example.org", hostKeys: [key("B")] } },
            exporters: [{ name: "node", port: 9100 }],
          },
        ],
      }),
      join(dir, "list.json"),
    );
    const files = generateFiles(list, {
      source: "list.json",
      version: "test",
      base: dir,
      format: "nix",
      split: false,
      remote: true,
      modules: "flake",
    });
    for (const f of files) writeFileSync(join(dir, f.name), f.content);
    const bastion = evalNixos([hostModule(join(dir, "remote.nix"), "bastion.example.org")], true);
    expect(bastion.failedAssertions).toEqual([]);
    expect(bastion.users.sshscrape.openssh.authorizedKeys.keys).toEqual([
      `restrict,port-forwarding,permitopen="[::1]:9100" ${key("A")}`,
    ]);
    // The proxy logs into the bastion as the inner target's user (no jump.user) and opens its sshd there.
    expect(bastion.users.inner.openssh.authorizedKeys.keys).toEqual([
      `restrict,port-forwarding,permitopen="[2001:db8::7]:2222" ${key("A")}`,
    ]);
    expect(bastion.nodeExporter).toMatchObject({ enable: true, listenAddress: "[::1]", port: 9100 });
    expect(bastion.sshdConfig).toContain(
      "Match User inner\n  AllowTcpForwarding local\n  PermitOpen [2001:db8::7]:2222\n",
    );
    expect(bastion.sshdConfig).toContain(
      "Match User sshscrape\n  AllowTcpForwarding local\n  PermitOpen [::1]:9100\n",
    );
    const inner = evalNixos([hostModule(join(dir, "remote.nix"), "2001:db8::7")], true);
    expect(inner.users.inner.openssh.authorizedKeys.keys).toEqual([
      `restrict,port-forwarding,permitopen="[::1]:9100" ${key("A")}`,
    ]);
  });

  it("sops-nix and agenix as NixOS has them: no key source on the host is a failed assertion", () => {
    const bare = (example: string) =>
      nixEvalJson<{ failedAssertions: string[] }>(
        `(import ${nixPath(join(repoRoot, "test/nix/eval-nixos.nix"))} { sshscrapeModules = true; modules = [
          ${file(join(GOLDEN, example, "single/sshscrape.nix"))}
          { sops.validateSopsFiles = false; services.sshscrape.checkConfig = false; }
        ]; })`,
      ).failedAssertions;
    expect(bare("sops")).toEqual([expect.stringMatching(/^No key source configured for sops/)]);
    expect(bare("agenix")).toEqual(["age.identityPaths must be set, for example by enabling openssh."]);
    expect(bare("minimal")).toEqual([]);
  });

  for (const example of exampleNames()) {
    describe(example, () => {
      const single = () => evalNixos([file(join(GOLDEN, example, "single/sshscrape.nix"))], true);

      it("printed file with the flake's modules: user, unit, credentials, secret, known hosts and scrape jobs as the list says", () => {
        checkMonitoring(example, single());
      });

      it("--out (module copies) and --split evaluate to the same configuration as the printed file", () => {
        const flake = single();
        for (const top of ["out/sshscrape.nix", "split/default.nix"]) {
          const ev = evalNixos([file(join(GOLDEN, example, top))], false);
          checkMonitoring(example, ev);
          const { lib: _a, ...a } = ev;
          const { lib: _b, ...b } = flake;
          expect(a, top).toEqual(b);
        }
      });

      it("the unit, written as NixOS writes it, passes systemd-analyze verify without a warning and scores ≤ 2.0 in systemd-analyze security", () => {
        const ev: Json = single();
        const dir = mkdtempSync(join(tmpdir(), "sshscrape-unit-"));
        const unit = join(dir, "sshscrape.service");
        writeFileSync(unit, unitFile(ev.services.sshscrape));
        const r = spawnSync("systemd-analyze", ["verify", unit], { encoding: "utf8" });
        expect(r.error, "systemd-analyze must be installed (apt-get install systemd)").toBeUndefined();
        expect(
          r.stderr.split("\n").filter((l) => l.includes("sshscrape.service")),
          readFileSync(unit, "utf8"),
        ).toEqual([]);
        expect(r.status).toBe(0);
        const score = exposureScore(unit);
        expect(score).toBeGreaterThan(0);
        expect(score, readFileSync(unit, "utf8")).toBeLessThanOrEqual(2.0);
      });

      it("--remote: each target's account may forward to exactly its exporters, the jump host's to the target's sshd", () => {
        const cfg = config(example);
        for (const shape of ["out", "split"]) {
          const remote = join(GOLDEN, example, shape, "remote.nix");
          for (const t of cfg.targets) {
            const ev: Json = evalNixos([hostModule(remote, t.host)], false);
            expect(ev.failedAssertions, t.host).toEqual([]);
            const user = t.ssh?.user ?? cfg.ssh.user;
            const remoteAddress = t.ssh?.remoteAddress ?? cfg.ssh.remoteAddress;
            const ports = t.exporters.map((e) => e.port).sort((a, b) => a - b);
            const publicKey = t.ssh?.publicKey ?? cfg.ssh.publicKey;
            expect(ev.users[user]).toMatchObject({ isSystemUser: true, group: user });
            expect(ev.users[user].openssh.authorizedKeys.keys).toEqual([
              `restrict,port-forwarding,${ports.map((p) => `permitopen="${joinHostPort(remoteAddress, p)}"`).join(",")} ${publicKey}`,
            ]);
            expect(ev.sshdConfig).toContain(
              `Match User ${user}\n  AllowTcpForwarding local\n  PermitOpen ${ports.map((p) => joinHostPort(remoteAddress, p)).join(" ")}\n`,
            );
            const jump = t.ssh?.jump;
            if (jump) {
              // The proxy logs into the jump host as jump.user, else as the target's own user, and may
              // forward only to this target's sshd.
              const j: Json = evalNixos([hostModule(remote, jump.host)], false);
              expect(j.failedAssertions).toEqual([]);
              expect(j.users[jump.user ?? user].openssh.authorizedKeys.keys).toEqual([
                `restrict,port-forwarding,permitopen="${joinHostPort(t.host, t.ssh?.port ?? cfg.ssh.port)}" ${publicKey}`,
              ]);
              expect(j.nodeExporter.enable).toBe(false);
            }
            const node = t.exporters.find((e) => e.name === "node");
            expect(ev.nodeExporter).toMatchObject(
              node ? { enable: true, listenAddress: remoteAddress, port: node.port } : { enable: false },
            );
          }
        }
      });

      it("--format prometheus passes promtool check config and matches the list", () => {
        const text = readFileSync(join(GOLDEN, example, "prometheus/prometheus.yml"), "utf8");
        promtoolCheck(text);
        checkScrapeConfigs(config(example), parse(text).scrape_configs, "");
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
