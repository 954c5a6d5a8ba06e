import { execFileSync, spawn } from "node:child_process";
import { chmodSync, mkdirSync, mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { beforeAll, describe, expect, it } from "vitest";
import { stringify } from "yaml";
import { PROXY_UNIT_ENV } from "../../scripts/bench-scale-lab.js";
import { parseConfig } from "../../src/config/index.js";
import { nixEvalJson, nixString, nixValue, repoRoot, run, scratchStore } from "./nix.js";
import { execArgv, exposureScore, renderUnit, type ServiceValue } from "./unit.js";

interface Evaluated {
  failedAssertions: string[];
  users: Record<string, { isSystemUser: boolean; isNormalUser: boolean; group: string }>;
  groups: Record<string, unknown>;
  knownHosts: Record<string, { hostNames: string[]; publicKey: string }>;
  knownHostsText: string;
  scrapeConfigs: Array<Record<string, unknown>>;
  prometheusConfig: { scrape_configs: Array<Record<string, unknown>> };
  services: Record<string, ServiceValue>;
}

let dir: string;
let pkgDir: string;
const keys: string[] = [];

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), "sshscrape-module-"));
  // The package the unit runs: a real executable, so `systemd-analyze verify` can check ExecStart.
  pkgDir = join(dir, "pkg");
  mkdirSync(join(pkgDir, "bin"), { recursive: true });
  writeFileSync(join(pkgDir, "bin/sshscrape"), `#!/bin/sh\nexec node ${repoRoot}/bin/run.js "$@"\n`);
  chmodSync(join(pkgDir, "bin/sshscrape"), 0o755);
  for (const name of ["a", "b", "c"]) {
    execFileSync("ssh-keygen", [
      "-q",
      "-t",
      "ed25519",
      "-N",
      "",
      "-C",
      `host-${name}`,
      "-f",
      join(dir, name),
    ]);
    keys.push(readFileSync(join(dir, `${name}.pub`), "utf8").trim());
  }
});

const evalArgs = (config: { sshscrape?: unknown; target?: unknown; extra?: string }) => {
  const modules = [
    `{ services.sshscrape.package = { type = "derivation"; name = "sshscrape"; outPath = ${nixString(pkgDir)}; meta.mainProgram = "sshscrape"; }; }`,
    config.sshscrape ? `{ services.sshscrape = ${nixValue(config.sshscrape)}; }` : "",
    config.target
      ? `{ services.openssh.enable = true; services.sshscrape-target = ${nixValue(config.target)}; }`
      : "",
    config.extra ?? "",
  ];
  return `sshscrapeModules = true; modules = [ ${modules.join("\n")} ];`;
};

/**
 * Evaluates nix/module.nix and nix/target.nix under the NixOS-typed stubs (test/nix/eval-nixos.nix; set
 * SSHSCRAPE_NIXPKGS_LIB to run them on a real nixpkgs lib). The config file is read unchecked here; the
 * build-time check has its own test below.
 */
function evaluate(config: { sshscrape?: unknown; target?: unknown; extra?: string }): Evaluated {
  const sshscrape = config.sshscrape ? { checkConfig: false, ...(config.sshscrape as object) } : undefined;
  return nixEvalJson<Evaluated>(
    `import ${repoRoot}/test/nix/eval-nixos.nix { ${evalArgs({ ...config, sshscrape })} }`,
  );
}

const monitoring = () => ({
  enable: true,
  ssh: { keyFile: "/run/secrets/sshscrape-ssh-key" },
  allow: ["*.internal.example.org:9100"],
  scrapeConfigs: { labels: { site: "fra1" } },
  settings: { proxy: { timeout: "20s" } },
  targets: {
    "web1.example.org": {
      hostKeys: [keys[0]],
      labels: { role: "web" },
      exporters: { node: { port: 9100, labels: { tier: "1" } } },
    },
    db: {
      host: "2001:db8::5",
      hostKeys: [keys[1], keys[2]],
      ssh: {
        port: 2222,
        keyFile: "/run/agenix/db-key",
        jump: { host: "bastion.example.org", user: "jump", hostKeys: [keys[2]] },
      },
      exporters: {
        node: { port: 9100 },
        postgres: {
          port: 9187,
          scheme: "https",
          scrapeTimeout: "8s",
          tls: { caFile: "/etc/ssl/exporters-ca.pem", serverName: "db.internal" },
        },
      },
    },
  },
});

function configFileOf(unit: ServiceValue): string {
  const argv = execArgv(String(unit.serviceConfig.ExecStart));
  const file = argv[argv.indexOf("--config") + 1];
  if (!argv.includes("--config") || !file) throw new Error(`no --config in ExecStart: ${argv.join(" ")}`);
  return file;
}

describe("services.sshscrape (nix/module.nix)", () => {
  let ev: Evaluated;
  let unit: ServiceValue;
  beforeAll(() => {
    ev = evaluate({ sshscrape: monitoring() });
    unit = ev.services.sshscrape as ServiceValue;
  });

  it("evaluates without failed assertions and creates a static system user and group", () => {
    expect(ev.failedAssertions).toEqual([]);
    expect(ev.users.sshscrape).toMatchObject({ isSystemUser: true, isNormalUser: false, group: "sshscrape" });
    expect(Object.keys(ev.groups).sort()).toEqual(["root", "sshscrape"]);
    expect(unit.serviceConfig).toMatchObject({ User: "sshscrape", Group: "sshscrape" });
  });

  it("writes every host key to known_hosts, as [host]:port off port 22, including the jump host", () => {
    const lines = ev.knownHostsText.trim().split("\n").sort();
    const key = (k: string | undefined) => k?.trim();
    expect(lines).toEqual(
      [
        `[2001:db8::5]:2222 ${key(keys[1])}`,
        `[2001:db8::5]:2222 ${key(keys[2])}`,
        `bastion.example.org ${key(keys[2])}`,
        `web1.example.org ${key(keys[0])}`,
      ].sort(),
    );
  });

  it("adds one scrape job per exporter name through proxy_url, and promtool accepts the result", () => {
    const jobs = Object.fromEntries(ev.scrapeConfigs.map((j) => [j.job_name, j]));
    // Prefixed, so they coexist with the host's own `node`, `prometheus` … jobs.
    expect(Object.keys(jobs).sort()).toEqual(["sshscrape-node", "sshscrape-postgres"]);
    jobs.node = jobs["sshscrape-node"] as Record<string, unknown>;
    jobs.postgres = jobs["sshscrape-postgres"] as Record<string, unknown>;
    expect(jobs.node).toMatchObject({
      proxy_url: "http://127.0.0.1:8888",
      scheme: "http",
      metrics_path: "/metrics",
      static_configs: [
        { targets: ["[2001:db8::5]:9100"], labels: { site: "fra1" } },
        { targets: ["web1.example.org:9100"], labels: { site: "fra1", role: "web", tier: "1" } },
      ],
    });
    expect(jobs.postgres).toMatchObject({
      scheme: "https",
      scrape_timeout: "8s",
      tls_config: { ca_file: "/etc/ssl/exporters-ca.pem", server_name: "db.internal" },
    });
    // Unset TLS fields are left out rather than written as null or false.
    const tls = jobs.postgres?.tls_config as Record<string, unknown>;
    expect(
      Object.keys(tls)
        .filter((k) => tls[k] !== null)
        .sort(),
    ).toEqual(["ca_file", "server_name"]);
    expect(jobs.node?.tls_config ?? null).toBeNull();
  });

  it("prometheus.yml as NixOS writes it passes promtool check config next to the host's own node and prometheus jobs", () => {
    const own = `{ services.prometheus = { enable = true; scrapeConfigs = [
      { job_name = "node"; static_configs = [ { targets = [ "localhost:9100" ]; } ]; }
      { job_name = "prometheus"; static_configs = [ { targets = [ "localhost:9090" ]; } ]; }
    ]; }; }`;
    const withOwn = evaluate({ sshscrape: monitoring(), extra: own });
    expect(withOwn.failedAssertions).toEqual([]);
    const names = withOwn.prometheusConfig.scrape_configs.map((j) => j.job_name);
    expect(names.sort()).toEqual(["node", "prometheus", "sshscrape-node", "sshscrape-postgres"]);
    const check = (config: unknown) => {
      const file = join(dir, `prometheus-${Math.random()}.yml`);
      writeFileSync(file, stringify(config));
      return run("promtool", ["check", "config", file]);
    };
    const r = check(withOwn.prometheusConfig);
    expect(r.status, `${r.stdout}${r.stderr}`).toBe(0);
    expect(r.stdout).toMatch(/SUCCESS/);
    // The check can fail: unprefixed job names collide with the host's own `node` job.
    const bare = evaluate({
      sshscrape: { ...monitoring(), scrapeConfigs: { labels: { site: "fra1" }, jobNamePrefix: "" } },
      extra: own,
    });
    const clash = check(bare.prometheusConfig);
    expect(clash.status).not.toBe(0);
    expect(`${clash.stdout}${clash.stderr}`).toMatch(/found multiple scrape configs with job name "node"/);
  });

  it("writes the proxy's config file in the CLI's target-list format, accepted by the proxy's validator", () => {
    const file = configFileOf(unit);
    const { config } = parseConfig(readFileSync(file, "utf8"), file);
    expect(config.proxy).toMatchObject({
      listen: "127.0.0.1:8888",
      user: "sshscrape",
      knownHostsFile: "/etc/ssh/ssh_known_hosts",
      allow: ["*.internal.example.org:9100"],
      timeout: "20s", // from `settings`
    });
    expect(config.ssh).toMatchObject({
      user: "sshscrape",
      port: 22,
      remoteAddress: "127.0.0.1",
      key: { path: "/run/credentials/sshscrape.service/ssh-key" },
    });
    expect(config.defaults.labels).toEqual({ site: "fra1" });
    const db = config.targets.find((t) => t.host === "2001:db8::5");
    expect(db?.exporters.map((e) => [e.name, e.port, e.scheme])).toEqual([
      ["node", 9100, "http"],
      ["postgres", 9187, "https"],
    ]);
    expect(db?.exporters[1]?.tls).toEqual({ caFile: "/etc/ssl/exporters-ca.pem", serverName: "db.internal" });
    expect(db?.ssh).toMatchObject({
      port: 2222,
      jump: { host: "bastion.example.org", user: "jump", port: 22 },
    });
    // The per-target key is its own credential; the path in the config is where systemd puts it.
    const keyPath = db?.ssh?.key && "path" in db.ssh.key ? db.ssh.key.path : "";
    const id = keyPath.replace("/run/credentials/sshscrape.service/", "");
    expect(unit.serviceConfig.LoadCredential).toEqual([
      "ssh-key:/run/secrets/sshscrape-ssh-key",
      `${id}:/run/agenix/db-key`,
    ]);
  });

  it("runs the proxy with the key from LoadCredential and restarts on failure", () => {
    expect(execArgv(String(unit.serviceConfig.ExecStart))).toEqual([
      `${pkgDir}/bin/sshscrape`,
      "proxy",
      "--config",
      configFileOf(unit),
      "--key-file",
      "/run/credentials/sshscrape.service/ssh-key",
    ]);
    expect(unit.serviceConfig.Restart).toBe("on-failure");
    expect(unit.wantedBy).toEqual(["multi-user.target"]);
  });

  it("gives the proxy the environment the benchmarks measure it with (PROXY_UNIT_ENV)", () => {
    // The malloc settings change the proxy's CPU per scrape (docs/benchmarks.md, "Page faults per scrape"); a
    // benchmark run with other settings than the unit's would measure a proxy nobody deploys.
    expect(unit.serviceConfig.Environment).toEqual(PROXY_UNIT_ENV.split(" "));
  });

  it("holds Prometheus back until the proxy is ready: curl in ExecStartPost retries /readyz until 200", async () => {
    expect(unit.before).toEqual(["prometheus.service"]);
    const line = String(unit.serviceConfig.ExecStartPost);
    expect(line.startsWith("-")).toBe(true); // a proxy slow to get ready must not fail the unit
    const argv = execArgv(line.slice(1));
    expect(argv.at(-1)).toBe("http://127.0.0.1:8888/readyz");
    // Run that very command line (Debian's curl is the stub pkgs.curl) against a /readyz that says 503 twice.
    let asked = 0;
    const server = createServer((_req, res) => {
      asked++;
      res.writeHead(asked <= 2 ? 503 : 200).end(asked <= 2 ? "not ready\n" : "ready\n");
    });
    await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
    try {
      const port = (server.address() as AddressInfo).port;
      const [cmd, ...args] = [...argv.slice(0, -1), `http://127.0.0.1:${port}/readyz`];
      const result = await new Promise<number | null>((resolve, reject) => {
        const child = spawn(cmd as string, args, { stdio: "ignore" });
        child.on("error", reject);
        child.on("exit", resolve);
      });
      expect(result).toBe(0);
      expect(asked).toBe(3);
    } finally {
      server.close();
    }
  });

  it("reloads (SIGHUP) instead of restarting when only host keys change", () => {
    const changed = monitoring();
    changed.targets["web1.example.org"].hostKeys = [keys[2]];
    const other = evaluate({ sshscrape: changed }).services.sshscrape as ServiceValue;
    expect(unit.serviceConfig.ExecReload).toMatch(/^"\/\S+\/bin\/kill" -HUP \$MAINPID$/);
    expect(unit.reloadTriggers).toHaveLength(1);
    expect(readFileSync(String(unit.reloadTriggers[0]), "utf8")).toBe(ev.knownHostsText);
    expect(other.reloadTriggers).not.toEqual(unit.reloadTriggers);
    expect(other.serviceConfig.ExecStart).toBe(unit.serviceConfig.ExecStart);
  });

  it("renders a unit that systemd-analyze verifies, with an exposure score of at most 2.0", () => {
    const file = join(dir, "sshscrape.service");
    writeFileSync(file, renderUnit(unit));
    const verify = run("systemd-analyze", ["verify", file]);
    expect(verify.stderr).toBe("");
    expect(verify.status).toBe(0);

    const score = exposureScore(file);
    expect(score).toBeGreaterThan(0);
    expect(score).toBeLessThanOrEqual(2.0);
  });

  it("systemd-analyze verify catches a unit whose program does not exist (the check above can fail)", () => {
    const file = join(dir, "broken.service");
    writeFileSync(
      file,
      renderUnit({
        ...unit,
        serviceConfig: { ...unit.serviceConfig, ExecStart: "/nonexistent/bin/sshscrape proxy" },
      }),
    );
    const verify = run("systemd-analyze", ["verify", file]);
    expect(verify.status).not.toBe(0);
    expect(verify.stderr).toMatch(/not executable/);
  });
});

describe("services.sshscrape assertions and switches", () => {
  it("names the full option path of a target without host keys while knownHosts.enable is on", () => {
    const cfg = monitoring();
    cfg.targets["web1.example.org"].hostKeys = [];
    expect(evaluate({ sshscrape: cfg }).failedAssertions).toEqual([
      expect.stringMatching(
        /^services\.sshscrape\.targets\."web1\.example\.org"\.hostKeys is empty while services\.sshscrape\.knownHosts\.enable is true/,
      ),
    ]);
    const off = evaluate({ sshscrape: { ...cfg, knownHosts: { enable: false } } });
    expect(off.failedAssertions).toEqual([]);
    expect(off.knownHosts).toEqual({});
  });

  it("refuses exporters that share a job name but not its settings, and a host without exporters", () => {
    const cfg = monitoring();
    cfg.targets["web1.example.org"].exporters.node = { port: 9100, metricsPath: "/other" } as never;
    (cfg.targets.db as { exporters: unknown }).exporters = {};
    const failed = evaluate({ sshscrape: cfg }).failedAssertions;
    expect(failed).toEqual(
      expect.arrayContaining([
        expect.stringMatching(/^services\.sshscrape\.targets\.db\.exporters is empty/),
      ]),
    );
    const cfg2 = monitoring();
    cfg2.targets["web1.example.org"].exporters.node = { port: 9100, metricsPath: "/other" } as never;
    expect(evaluate({ sshscrape: cfg2 }).failedAssertions).toEqual([
      expect.stringMatching(
        /^services\.sshscrape\.targets\.<name>\.exporters\.node: .* must agree on scheme, metricsPath/,
      ),
    ]);
  });

  it("maps tls.insecureSkipVerify, refuses tls on an http exporter, and splits no job over differing tls", () => {
    const skip = monitoring();
    skip.targets.db.exporters.postgres.tls = { insecureSkipVerify: true } as never;
    const ev = evaluate({ sshscrape: skip });
    expect(ev.failedAssertions).toEqual([]);
    expect(
      ev.prometheusConfig.scrape_configs.find((j) => j.job_name === "sshscrape-postgres")?.tls_config,
    ).toEqual({
      insecure_skip_verify: true,
    });

    const http = monitoring();
    (http.targets["web1.example.org"].exporters.node as Record<string, unknown>).tls = {
      caFile: "/etc/ssl/ca.pem",
    };
    const failed = evaluate({ sshscrape: http }).failedAssertions;
    expect(failed).toContainEqual(
      expect.stringMatching(
        /^services\.sshscrape\.targets\."web1\.example\.org"\.exporters\.node\.tls is set but scheme is "http"/,
      ),
    );

    const mixed = monitoring();
    (mixed.targets["web1.example.org"].exporters as Record<string, unknown>).postgres = {
      port: 9187,
      scheme: "https",
      scrapeTimeout: "8s",
    };
    expect(evaluate({ sshscrape: mixed }).failedAssertions).toEqual([
      expect.stringMatching(
        /^services\.sshscrape\.targets\.<name>\.exporters\.postgres: .*scrapeTimeout and tls/,
      ),
    ]);
  });

  it("scrapeConfigs.enable = false leaves Prometheus alone; enable = false adds nothing at all", () => {
    expect(
      evaluate({ sshscrape: { ...monitoring(), scrapeConfigs: { enable: false } } }).scrapeConfigs,
    ).toEqual([]);
    const off = evaluate({ sshscrape: { ...monitoring(), enable: false } });
    expect(off).toMatchObject({ knownHosts: {}, scrapeConfigs: [], services: {} });
    expect(Object.keys(off.users)).toEqual(["root"]);
  });

  it("rejects a value of the wrong type with the option's path", () => {
    const cfg = monitoring();
    (cfg.targets.db.exporters.node as { port: unknown }).port = 70000;
    expect(() => evaluate({ sshscrape: cfg })).toThrow(
      /services\.sshscrape\.targets\.db\.exporters\.node\.port/,
    );
  });
});

describe("services.sshscrape under NixOS' own rules (issue defects, each failed before its fix)", () => {
  it("the account's passwd fields hold no colon: NixOS refuses one (passwdEntry), the module writes none", () => {
    expect(() =>
      evaluate({ sshscrape: monitoring(), extra: `{ users.users.sshscrape.description = "a: b"; }` }),
    ).toThrow(
      /users\.users\.sshscrape\.description' is not of type `string, not containing newlines or colons'/,
    );
    const ev = evaluate({ sshscrape: monitoring() });
    expect(ev.users.sshscrape).toMatchObject({ description: "sshscrape, Prometheus scrapes over SSH" });
  });

  it("runs as an existing user (prometheus) without defining it a second time", () => {
    const ev = evaluate({
      sshscrape: { ...monitoring(), user: "prometheus", group: "prometheus" },
      extra: "{ services.prometheus.enable = true; }",
    });
    expect(ev.failedAssertions).toEqual([]);
    expect(ev.users.prometheus).toMatchObject({ description: "Prometheus daemon user", group: "prometheus" });
    expect(ev.users.sshscrape).toBeUndefined();
    expect(ev.services.sshscrape?.serviceConfig).toMatchObject({ User: "prometheus", Group: "prometheus" });
  });

  it("asserts what the proxy would refuse at start: port 0, a duplicate host:port, a non-host name, an open listener", () => {
    const cfg = monitoring();
    (cfg.targets["web1.example.org"].exporters as Record<string, unknown>).zero = { port: 0 };
    (cfg.targets as Record<string, unknown>)["web1-again"] = {
      host: "web1.example.org",
      hostKeys: [keys[0]],
      exporters: { other: { port: 9100 } },
    };
    (cfg.targets as Record<string, unknown>)["not a host"] = {
      hostKeys: [keys[0]],
      exporters: { n: { port: 1 } },
    };
    const failed = evaluate({ sshscrape: { ...cfg, listenAddress: "0.0.0.0" } }).failedAssertions;
    expect(failed).toEqual(
      expect.arrayContaining([
        expect.stringMatching(
          /^services\.sshscrape\.targets\."web1\.example\.org"\.exporters\.zero\.port is 0/,
        ),
        expect.stringMatching(/same host:port \(web1\.example\.org:9100\)/),
        expect.stringMatching(
          /^services\.sshscrape\.targets\."not a host"\.host = "not a host" is not a host name/,
        ),
        expect.stringMatching(/^services\.sshscrape\.listenAddress = "0\.0\.0\.0" is not a loopback address/),
      ]),
    );
    const authed = monitoring();
    (authed.settings.proxy as Record<string, unknown>).auth = { user: "prom", passwordFile: "/run/p" };
    expect(evaluate({ sshscrape: { ...authed, listenAddress: "0.0.0.0" } }).failedAssertions).toEqual([]);
  });

  it("checks the config file at build time with the proxy's own validator: an unknown settings key fails the build", () => {
    const store = scratchStore();
    try {
      const build = (sshscrape: unknown) =>
        run("nix-build", [
          ...store.args,
          "--no-out-link",
          "-E",
          `import ${repoRoot}/test/nix/eval-nixos.nix { attr = [ "services" "sshscrape" "configFile" ]; ${evalArgs({ sshscrape })} }`,
        ]);
      const good = build(monitoring());
      expect(good.status, good.stderr).toBe(0);
      const built = JSON.parse(readFileSync(good.stdout.trim(), "utf8"));
      expect(built.proxy.timeout).toBe("20s");
      const bad = monitoring();
      (bad.settings.proxy as Record<string, unknown>).timeot = "20s";
      const r = build(bad);
      expect(r.status).not.toBe(0);
      // The proxy's own message, naming the file and the key, as `nixos-rebuild` would show it.
      expect(r.stderr).toMatch(/sshscrape\.json: proxy\b.*"?timeot"?/);
      expect(r.stderr).toMatch(/sshscrape-checked\.json\.drv' failed with exit code 2/);
    } finally {
      store.remove();
    }
  }, 60_000);

  it("quotes every ExecStart/ExecStartPost value for systemd: % specifiers and $VARs reach the proxy literally", () => {
    const value = "info%n$HOME$" + "{USER}";
    const ev = evaluate({ sshscrape: { ...monitoring(), extraArgs: ["--log-level", value] } });
    const unit = ev.services.sshscrape as ServiceValue;
    const line = String(unit.serviceConfig.ExecStart);
    expect(line).toContain('"info%%n$$HOME$$' + '{USER}"');
    expect(execArgv(line)).toContain(value);
    for (const word of execArgv(String(unit.serviceConfig.ExecStartPost).slice(1)))
      expect(word).not.toMatch(/^'/);
  });

  it("reloads on the known_hosts file the proxy reads, wherever NixOS writes it, and hands host keys over otherwise", () => {
    const ev = evaluate({
      sshscrape: { ...monitoring(), knownHostsFile: "/etc/sshscrape/known_hosts" },
      extra: `{ environment.etc."sshscrape/known_hosts".text = "web1.example.org ssh-ed25519 AAAA\\n"; }`,
    });
    expect(ev.failedAssertions).toEqual([]);
    const unit = ev.services.sshscrape as ServiceValue;
    expect(unit.reloadTriggers).toHaveLength(1);
    expect(readFileSync(String(unit.reloadTriggers[0]), "utf8")).toBe("web1.example.org ssh-ed25519 AAAA\n");
    // The system known_hosts is not what this proxy reads: the keys go into its config instead.
    expect(ev.knownHosts).toEqual({});
    const { config } = parseConfig(readFileSync(configFileOf(unit), "utf8"), "x.json");
    expect(config.targets.find((t) => t.host === "web1.example.org")?.hostKeys).toEqual([keys[0]]);
    const none = evaluate({ sshscrape: { ...monitoring(), knownHostsFile: "/var/lib/known_hosts" } });
    expect((none.services.sshscrape as ServiceValue).reloadTriggers).toEqual([]);
  });

  it("passes an exporter's extraMethods to the proxy's config, and none by default", () => {
    const m = monitoring();
    const targets = m.targets as Record<string, { exporters: Record<string, unknown> }>;
    (targets["web1.example.org"] as { exporters: Record<string, unknown> }).exporters.push = {
      port: 9091,
      extraMethods: ["POST", "DELETE"],
    };
    const ev = evaluate({ sshscrape: m });
    expect(ev.failedAssertions).toEqual([]);
    const { config } = parseConfig(
      readFileSync(configFileOf(ev.services.sshscrape as ServiceValue), "utf8"),
      "x.json",
    );
    const exporters = config.targets.find((t) => t.host === "web1.example.org")?.exporters ?? [];
    expect(exporters.find((e) => e.name === "push")?.extraMethods).toEqual(["POST", "DELETE"]);
    expect(exporters.find((e) => e.name === "node")?.extraMethods).toBeUndefined();
  });
});
