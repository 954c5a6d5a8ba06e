/**
 * `sshscrape generate --format prometheus --rules --out DIR` (the built CLI): prometheus.yml with rule_files
 * and a job for the proxy's own /metrics, and the shipped rules file beside it — checked by --verify
 * (promtool check config, which checks the rules it names) and loaded by a real Prometheus.
 */
import { mkdtempSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { parse } from "yaml";
import { startPrometheus } from "../helpers/prometheus.js";
import { runCli } from "../helpers/run-cli.js";
import { RULES_FILE } from "./rules-file.js";

const scratch = () => mkdtempSync(join(tmpdir(), "sshscrape-gen-rules-"));

describe("generate --format prometheus --rules", () => {
  it("writes the rules beside prometheus.yml, with the proxy's own job; promtool and Prometheus load them", async () => {
    const out = join(scratch(), "prom");
    const r = await runCli([
      "generate",
      "examples/minimal.yaml",
      "--format",
      "prometheus",
      "--rules",
      "--out",
      out,
      "--verify",
    ]);
    expect(r.error).toBeUndefined();
    expect(r.stderr).toContain("promtool check config: prometheus.yml ok");
    expect(readdirSync(out).sort()).toEqual(["prometheus.yml", "sshscrape.rules.yml"]);
    expect(readFileSync(join(out, "sshscrape.rules.yml"), "utf8")).toBe(readFileSync(RULES_FILE, "utf8"));
    const prom = parse(readFileSync(join(out, "prometheus.yml"), "utf8")) as {
      rule_files: string[];
      scrape_configs: Array<{
        job_name: string;
        proxy_url?: string;
        static_configs: Array<{ targets: string[] }>;
      }>;
    };
    expect(prom.rule_files).toEqual(["sshscrape.rules.yml"]);
    const own = prom.scrape_configs.find((j) => j.job_name === "sshscrape");
    // examples/minimal.yaml leaves proxy.listen at its default.
    expect(own).toEqual({ job_name: "sshscrape", static_configs: [{ targets: ["127.0.0.1:8888"] }] });
    expect(prom.scrape_configs.filter((j) => j.job_name !== "sshscrape").every((j) => j.proxy_url)).toBe(
      true,
    );

    const prometheus = await startPrometheus({
      config: readFileSync(join(out, "prometheus.yml"), "utf8").replace(
        "sshscrape.rules.yml",
        join(out, "sshscrape.rules.yml"),
      ),
    });
    try {
      const body = (await (await fetch(`${prometheus.url}/api/v1/rules`)).json()) as {
        data: { groups: Array<{ rules: unknown[] }> };
      };
      expect(body.data.groups.flatMap((g) => g.rules).length).toBeGreaterThan(20);
    } finally {
      await prometheus.stop();
    }
  }, 60_000);

  it("scrapes proxy.metricsListen when the list sets one, with proxy.auth's credentials", async () => {
    const dir = scratch();
    const list = join(dir, "hosts.yaml");
    // examples/minimal.yaml has no proxy section.
    writeFileSync(
      list,
      `proxy:\n  metricsListen: "[::1]:9911"\n  auth: { username: prom, passwordFile: /run/secrets/proxy-pw }\n${readFileSync("examples/minimal.yaml", "utf8")}`,
    );
    const out = join(dir, "prom");
    const r = await runCli(["generate", list, "--format", "prometheus", "--rules", "--out", out]);
    expect(r.error).toBeUndefined();
    const prom = parse(readFileSync(join(out, "prometheus.yml"), "utf8")) as {
      scrape_configs: Array<{ job_name: string; static_configs: Array<{ targets: string[] }> }>;
    };
    expect(prom.scrape_configs.find((j) => j.job_name === "sshscrape")).toEqual({
      job_name: "sshscrape",
      static_configs: [{ targets: ["[::1]:9911"] }],
      basic_auth: { username: "prom", password_file: "/run/secrets/proxy-pw" },
    });
  });

  it("is refused without --format prometheus, and without --out", async () => {
    const nix = await runCli(["generate", "examples/minimal.yaml", "--rules", "--out", join(scratch(), "x")]);
    expect(nix.exitCode).toBe(2);
    expect(nix.stderr).toContain("--rules writes Prometheus rules beside prometheus.yml");
    const noOut = await runCli(["generate", "examples/minimal.yaml", "--format", "prometheus", "--rules"]);
    expect(noOut.exitCode).toBe(2);
    expect(`${noOut.error}${noOut.stderr}`).toMatch(/--out/);
  });
});
