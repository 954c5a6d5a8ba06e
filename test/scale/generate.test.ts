/**
 * `sshscrape generate` for sharded lists, http_sd jobs and agent keys, through the built CLI; every
 * prometheus.yml it prints goes through Debian's real `promtool check config`.
 */
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { parse, stringify } from "yaml";
import { shardOf, shardRelabelConfigs } from "../../src/config/index.js";
import { checkConfig } from "../helpers/prometheus.js";
import { runCli } from "../helpers/run-cli.js";

const dir = mkdtempSync(join(tmpdir(), "sshscrape-scale-gen-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

let n = 0;
function listFile(extra: Record<string, unknown> = {}, targets?: unknown[]): string {
  const file = join(dir, `list-${n++}.yaml`);
  writeFileSync(
    file,
    stringify({
      proxy: { listen: "127.0.0.1:8888" },
      ssh: { key: { path: "/var/lib/sshscrape/key" } },
      defaults: { scrapeInterval: "30s" },
      targets: targets ?? [
        { host: "a.example.org", exporters: [{ name: "node", port: 9100 }] },
        {
          host: "b.example.org",
          exporters: [
            { name: "node", port: 9100 },
            { name: "pg", port: 9187, scheme: "https", tls: { caFile: "/etc/ca.pem" } },
          ],
        },
      ],
      ...extra,
    }),
  );
  return file;
}

/** Parses the printed prometheus.yml after promtool accepted it. */
function promYml(stdout: string): { scrape_configs: Array<Record<string, unknown>> } {
  const file = join(dir, `prometheus-${n++}.yml`);
  writeFileSync(file, stdout);
  checkConfig(file);
  return parse(stdout);
}

describe("generate: shards, http_sd, agent keys", () => {
  it("static jobs of a sharded list keep every target listed and add the hashmod rules of --shard", async () => {
    const file = listFile({ shards: { count: 3, index: 0 } });
    const run = await runCli(["generate", file, "--format", "prometheus", "--shard", "2"]);
    expect(run.exitCode, run.stderr).toBe(0);
    const jobs = promYml(run.stdout).scrape_configs;
    expect(jobs.map((j) => j.job_name)).toEqual(["node", "pg"]);
    for (const j of jobs) expect(j.relabel_configs).toEqual(shardRelabelConfigs({ count: 3, index: 2 }));
    expect((jobs[0]?.static_configs as Array<{ targets: string[] }> | undefined)?.[0]?.targets).toEqual([
      "a.example.org:9100",
      "b.example.org:9100",
    ]);
  });

  it("--discovery http: one job per exporter name reading /sd?job=NAME, tls_config kept, basic_auth with proxy.auth", async () => {
    const file = listFile({
      proxy: {
        listen: "127.0.0.1:8888",
        auth: { username: "prom", passwordFile: "/run/keys/proxy-password" },
      },
      shards: { count: 2, index: 1 },
    });
    const run = await runCli(["generate", file, "--format", "prometheus", "--discovery", "http"]);
    expect(run.exitCode, run.stderr).toBe(0);
    const jobs = promYml(run.stdout).scrape_configs;
    const sd = (job: string) => ({
      url: `http://127.0.0.1:8888/sd?job=${job}`,
      refresh_interval: "30s",
      basic_auth: { username: "prom", password_file: "/run/keys/proxy-password" },
    });
    expect(jobs).toEqual([
      {
        job_name: "node",
        proxy_url: "http://127.0.0.1:8888",
        http_sd_configs: [sd("node")],
        relabel_configs: shardRelabelConfigs({ count: 2, index: 1 }),
      },
      {
        job_name: "pg",
        proxy_url: "http://127.0.0.1:8888",
        tls_config: { ca_file: "/etc/ca.pem" },
        http_sd_configs: [sd("pg")],
        relabel_configs: shardRelabelConfigs({ count: 2, index: 1 }),
      },
    ]);
  });

  it("--format file-sd of a sharded list: each shard's file holds exactly its own hosts", async () => {
    const hosts = Array.from({ length: 20 }, (_, i) => `h${i}.example.org`);
    const file = listFile(
      { shards: { count: 2 } },
      hosts.map((host) => ({ host, exporters: [{ name: "node", port: 9100 }] })),
    );
    const seen: string[][] = [];
    for (const index of [0, 1]) {
      const run = await runCli(["generate", file, "--format", "file-sd", "--shard", String(index)]);
      expect(run.exitCode, run.stderr).toBe(0);
      const groups = JSON.parse(run.stdout) as Array<{ targets: string[] }>;
      const own = groups.flatMap((g) => g.targets).map((t) => t.replace(/:\d+$/, ""));
      expect(own.sort()).toEqual(hosts.filter((h) => shardOf(h, 2) === index).sort());
      seen.push(own);
    }
    expect(seen.flat().sort()).toEqual([...hosts].sort());
  });

  it("refuses what it cannot express, exit 2 naming the path and the fix", async () => {
    const sharded = listFile({ shards: { count: 2 } });
    const beyond = await runCli(["generate", sharded, "--format", "prometheus", "--shard", "2"]);
    expect(beyond.exitCode).toBe(2);
    expect(beyond.stderr).toContain("--shard 2: expected 0 … 1");
    const unsharded = await runCli(["generate", listFile(), "--format", "prometheus", "--shard", "0"]);
    expect(unsharded.exitCode).toBe(2);
    expect(unsharded.stderr).toContain("has no shards setting");
    const sdNix = await runCli(["generate", listFile(), "--discovery", "http"]);
    expect(sdNix.exitCode).toBe(2);
    const tlsClash = listFile({}, [
      {
        host: "a.example.org",
        exporters: [{ name: "pg", port: 9187, scheme: "https", tls: { caFile: "/a" } }],
      },
      {
        host: "b.example.org",
        exporters: [{ name: "pg", port: 9187, scheme: "https", tls: { caFile: "/b" } }],
      },
    ]);
    const clash = await runCli(["generate", tlsClash, "--format", "prometheus", "--discovery", "http"]);
    expect(clash.exitCode).toBe(2);
    expect(clash.stderr).toContain("targets[1].exporters[0].tls: differs from targets[0].exporters[0]");
  });

  it("Nix output of a sharded list sets services.sshscrape.shard (the module adds the relabeling)", async () => {
    const hostKeys = ["ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIMaox8osPCTxv6HRrHRIGHDaD4dMA2LmU4tG8UKzxIwE"];
    const file = listFile({ shards: { count: 3, index: 0 } }, [
      { host: "a.example.org", hostKeys, exporters: [{ name: "node", port: 9100 }] },
    ]);
    const run = await runCli(["generate", file, "--shard", "2"]);
    expect(run.exitCode, run.stderr).toBe(0);
    expect(run.stdout).toMatch(/shard = \{\s+count = 3;\s+index = 2;\s+\};/);
  });

  it("agent keys: fine for prometheus.yml, refused for the NixOS unit with the reason", async () => {
    const file = listFile({ ssh: { key: { agent: true } } });
    const prom = await runCli(["generate", file, "--format", "prometheus"]);
    expect(prom.exitCode, prom.stderr).toBe(0);
    const nix = await runCli(["generate", file]);
    expect(nix.exitCode).toBe(2);
    expect(nix.stderr).toContain(`${file}: ssh.key: an ssh-agent cannot serve the generated system unit`);
    const perTarget = listFile({}, [
      {
        host: "a.example.org",
        ssh: { key: { agent: "/run/user/1000/agent.sock" } },
        exporters: [{ name: "n", port: 1 }],
      },
    ]);
    const mod = await runCli(["generate", perTarget, "--module"]);
    expect(mod.exitCode).toBe(2);
    expect(mod.stderr).toContain("targets[0].ssh.key: an ssh-agent cannot serve");
  });
});
