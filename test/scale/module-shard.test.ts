/**
 * `services.sshscrape.shard` and `scrapeConfigs.discovery` in nix/module.nix, evaluated by real Nix with the
 * project's stub NixOS (test/nix/eval-nixos.nix): the jobs carry exactly the relabel rules the generator and
 * the proxy use (checked against real Prometheus in hashmod.test.ts), promtool accepts them, and the proxy's
 * config file carries `shards`, so the proxy allows only its shard. Not covered: NixOS' own prometheus module
 * (the stub declares relabel_configs and http_sd_configs as lists of attribute sets).
 */
import { mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { stringify } from "yaml";
import { parseConfig, shardOf, shardRelabelConfigs } from "../../src/config/index.js";
import { settingsFromConfig } from "../../src/proxy/index.js";
import { nixEval, nixValue, repoRoot, run } from "../nix/nix.js";
import { execArgv } from "../nix/unit.js";

interface Evaluated {
  failedAssertions: string[];
  scrapeConfigs: Array<Record<string, unknown>>;
  services: Record<string, { serviceConfig: Record<string, unknown> }>;
}

const HOSTS = Array.from({ length: 10 }, (_, i) => `h${i}.example.org`);

function evaluate(sshscrape: Record<string, unknown>): Evaluated | string {
  const r = nixEval(
    `import ${repoRoot}/test/nix/eval-nixos.nix { sshscrapeModules = true; modules = [ { services.sshscrape = ${nixValue(sshscrape)}; } ]; }`,
  );
  return r.status === 0 ? (JSON.parse(r.stdout) as Evaluated) : r.stderr;
}

const monitoring = (extra: Record<string, unknown>) => ({
  enable: true,
  // The config file is read back unbuilt here (the proxy's loader below checks it as the build would).
  checkConfig: false,
  ssh: { keyFile: "/run/secrets/sshscrape-ssh-key" },
  knownHosts: { enable: false },
  scrapeConfigs: { scrapeInterval: "30s" },
  targets: Object.fromEntries(HOSTS.map((h) => [h, { exporters: { node: { port: 9100 } } }])),
  ...extra,
});

function promtool(jobs: Array<Record<string, unknown>>): void {
  const dropNulls = (v: unknown): unknown =>
    Array.isArray(v)
      ? v.map(dropNulls)
      : v && typeof v === "object"
        ? Object.fromEntries(
            Object.entries(v)
              .filter(([, x]) => x !== null)
              .map(([k, x]) => [k, dropNulls(x)]),
          )
        : v;
  const file = join(mkdtempSync(join(tmpdir(), "sshscrape-module-shard-")), "prometheus.yml");
  writeFileSync(file, stringify({ scrape_configs: dropNulls(jobs) }));
  const r = run("promtool", ["check", "config", file]);
  expect(r.status, `${r.stdout}${r.stderr}`).toBe(0);
}

describe("services.sshscrape.shard (nix/module.nix)", () => {
  it("static jobs keep shard index of count with the proxy's hashmod rules; the proxy allows only that shard", () => {
    const ev = evaluate(monitoring({ shard: { count: 2, index: 1 } }));
    if (typeof ev === "string") throw new Error(ev);
    expect(ev.failedAssertions).toEqual([]);
    const job = ev.scrapeConfigs.find((j) => String(j.job_name).endsWith("node")) as Record<string, unknown>;
    expect(job.relabel_configs).toEqual(shardRelabelConfigs({ count: 2, index: 1 }));
    expect((job.static_configs as unknown[]).length).toBe(HOSTS.length);
    promtool(ev.scrapeConfigs);
    const argv = execArgv(String(ev.services.sshscrape?.serviceConfig.ExecStart));
    const file = argv[argv.indexOf("--config") + 1] as string;
    const loaded = parseConfig(readFileSync(file, "utf8"), file);
    expect(loaded.config.shards).toEqual({ count: 2, index: 1 });
    const allowed = settingsFromConfig(loaded).allow.exact.map((e) => e.host);
    expect(allowed.sort()).toEqual(HOSTS.filter((h) => shardOf(h, 2) === 1).sort());
  });

  it("discovery = http: jobs read /sd?job=NAME every scrapeInterval, with the same relabeling", () => {
    const ev = evaluate(
      monitoring({
        shard: { count: 3, index: 0 },
        scrapeConfigs: { scrapeInterval: "30s", discovery: "http" },
      }),
    );
    if (typeof ev === "string") throw new Error(ev);
    const job = ev.scrapeConfigs.find((j) => String(j.job_name).endsWith("node")) as Record<string, unknown>;
    expect(job.static_configs ?? null).toBeNull();
    expect(job.job_name).toBe("sshscrape-node");
    // No `job` label in /sd?job=…: the targets take this job_name, prefix included, as static targets do.
    expect(job.http_sd_configs).toEqual([
      { url: "http://127.0.0.1:8888/sd?job=node", refresh_interval: "30s" },
    ]);
    expect(job.relabel_configs).toEqual(shardRelabelConfigs({ count: 3, index: 0 }));
    promtool(ev.scrapeConfigs);
  });

  it("without shard nothing changes; an index outside count fails an assertion naming the option", () => {
    const plain = evaluate(monitoring({}));
    if (typeof plain === "string") throw new Error(plain);
    for (const j of plain.scrapeConfigs) expect(j.relabel_configs ?? null).toBeNull();
    const bad = evaluate(monitoring({ shard: { count: 2, index: 2 } }));
    const message = typeof bad === "string" ? bad : bad.failedAssertions.join("\n");
    expect(message).toContain("services.sshscrape.shard: expected count ≥ 1 and 0 ≤ index < count");
  });
});
