/**
 * services.sshscrape.alertRules.enable (nix/module.nix) under the NixOS-typed test stubs
 * (test/nix/eval-nixos.nix): it adds the package's rules file to services.prometheus.ruleFiles and the job
 * that scrapes the proxy's own /metrics. The package is stood in for by what `npm pack` puts in it, unpacked
 * where buildNpmPackage installs it ($out/lib/node_modules/sshscrape), so the path the module names must
 * exist in the package. What the evaluation yields goes to the real consumers: promtool check config (which
 * checks the rule files it names) and Prometheus itself, which must load every group.
 * Not covered: building the Nix package, and NixOS' build-time `promtool check rules` wrapper.
 */
import { mkdirSync, mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { execa } from "execa";
import { beforeAll, describe, expect, it } from "vitest";
import { stringify } from "yaml";
import { startPrometheus } from "../helpers/prometheus.js";
import { nixEvalJson, nixString, nixValue, repoRoot, run } from "../nix/nix.js";
import { RULES_FILE } from "./rules-file.js";

interface Evaluated {
  failedAssertions: string[];
  scrapeConfigs: Array<Record<string, unknown>>;
  ruleFiles: string[];
  /** prometheus.yml as the stubbed NixOS prometheus module writes it (nulls dropped, rule_files). */
  prometheusConfig: Record<string, unknown>;
}

/** $out of the stand-in package: `npm pack`'s files under lib/node_modules/sshscrape. */
let packageOut: string;

beforeAll(async () => {
  const dir = mkdtempSync(join(tmpdir(), "sshscrape-pkg-"));
  const packed = await execa("npm", ["pack", "--json", "--ignore-scripts", "--pack-destination", dir], {
    cwd: repoRoot,
  });
  const tarball = (JSON.parse(packed.stdout) as Array<{ filename: string }>)[0]?.filename as string;
  packageOut = join(dir, "out");
  const installed = join(packageOut, "lib", "node_modules", "sshscrape");
  mkdirSync(installed, { recursive: true });
  await execa("tar", ["-xzf", join(dir, tarball), "-C", installed, "--strip-components=1"]);
}, 60_000);

const HOST_KEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIHkzuR4kq1X6nM0J4fVbqE6kq9S3rLJ0mGkA0gJfWl7m";

function evaluate(sshscrape: Record<string, unknown>): Evaluated {
  const options = {
    enable: true,
    ssh: { keyFile: "/run/secrets/sshscrape-ssh-key" },
    targets: { "web1.example.org": { hostKeys: [HOST_KEY], exporters: { node: { port: 9100 } } } },
    ...sshscrape,
  };
  return nixEvalJson<Evaluated>(
    `import ${repoRoot}/test/nix/eval-nixos.nix { sshscrapeModules = true; modules = [ { services.prometheus.enable = true; services.sshscrape = ${nixValue(options)}; } { services.sshscrape.package = { type = "derivation"; name = "sshscrape"; outPath = ${nixString(packageOut)}; meta.mainProgram = "sshscrape"; }; } ]; }`,
  );
}

/** The evaluated prometheus.yml, evaluated every second so a test sees the rules' results quickly. */
function prometheusYml(ev: Evaluated): string {
  return stringify({ ...ev.prometheusConfig, global: { evaluation_interval: "1s" } });
}

describe("services.sshscrape.alertRules", () => {
  it("is off by default: no rule file, no job for the proxy", () => {
    const ev = evaluate({});
    expect(ev.failedAssertions).toEqual([]);
    expect(ev.ruleFiles).toEqual([]);
    expect(ev.scrapeConfigs.map((j) => j.job_name)).toEqual(["sshscrape-node"]);
  });

  it("adds the shipped rules and a job scraping the proxy's own /metrics; promtool and Prometheus accept them", async () => {
    const ev = evaluate({ alertRules: { enable: true }, port: 9555 });
    expect(ev.failedAssertions).toEqual([]);
    const shipped = join(packageOut, "lib/node_modules/sshscrape/rules/sshscrape.rules.yml");
    expect(ev.ruleFiles).toEqual([shipped]);
    expect(readFileSync(shipped, "utf8")).toBe(readFileSync(RULES_FILE, "utf8"));
    const proxyJob = ev.scrapeConfigs.find((j) => j.job_name === "sshscrape");
    expect(proxyJob).toMatchObject({ static_configs: [{ targets: ["127.0.0.1:9555"] }] });
    expect(proxyJob?.proxy_url ?? null).toBeNull();

    const dir = mkdtempSync(join(tmpdir(), "sshscrape-alert-rules-"));
    const file = join(dir, "prometheus.yml");
    writeFileSync(file, prometheusYml(ev));
    const check = run("promtool", ["check", "config", file]);
    expect(check.status, `${check.stdout}${check.stderr}`).toBe(0);
    expect(check.stdout).toMatch(/SUCCESS: \d+ rules found/);

    const prometheus = await startPrometheus({ config: prometheusYml(ev) });
    try {
      const res = await fetch(`${prometheus.url}/api/v1/rules`);
      const body = (await res.json()) as { data: { groups: Array<{ name: string; file: string }> } };
      expect(body.data.groups.map((g) => g.name).sort()).toEqual([
        "sshscrape.hosts",
        "sshscrape.proxy",
        "sshscrape.records",
        "sshscrape.targets",
      ]);
      expect(new Set(body.data.groups.map((g) => g.file))).toEqual(new Set([shipped]));
    } finally {
      await prometheus.stop();
    }
  }, 60_000);

  it("sends proxy.auth's credentials when the proxy wants them for /metrics", () => {
    const ev = evaluate({
      alertRules: { enable: true },
      settings: { proxy: { auth: { username: "prom", passwordFile: "/run/secrets/proxy-pw" } } },
    });
    expect(ev.failedAssertions).toEqual([]);
    expect(ev.scrapeConfigs.find((j) => j.job_name === "sshscrape")?.basic_auth).toEqual({
      username: "prom",
      password_file: "/run/secrets/proxy-pw",
    });
  });

  it("refuses an exporter named like the proxy's job, naming the options", () => {
    const ev = evaluate({
      alertRules: { enable: true },
      scrapeConfigs: { jobNamePrefix: "" },
      targets: { "web1.example.org": { hostKeys: [HOST_KEY], exporters: { sshscrape: { port: 9100 } } } },
    });
    expect(ev.failedAssertions).toEqual([
      expect.stringContaining('services.sshscrape.alertRules.enable adds the Prometheus job "sshscrape"'),
    ]);
  });
});
