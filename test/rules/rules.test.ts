/**
 * rules/sshscrape.rules.yml under the real promtool: `check rules` (syntax, PromQL, templates) and
 * `test rules` (test/rules/sshscrape.rules.test.yml: input series → expected alerts, with their rendered
 * summary and description). The structural checks make sure that file keeps up with the rules: every alert
 * is expected to fire in some case there, and every alert names what failed and the fix.
 */
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { execa } from "execa";
import { describe, expect, it } from "vitest";
import { parse } from "yaml";
import { PROMTOOL_BINARY } from "../helpers/prometheus.js";
import { loadRules, RULES_FILE } from "./rules-file.js";

const UNIT_TESTS = join(import.meta.dirname, "sshscrape.rules.test.yml");

/** "5m" → 300 (the units promtool accepts in these files). */
function seconds(d: string | undefined): number {
  if (!d) return 0;
  let total = 0;
  for (const [, n, unit] of d.matchAll(/(\d+)(ms|s|m|h|d)/g)) {
    total += Number(n) * { ms: 0.001, s: 1, m: 60, h: 3600, d: 86400 }[unit as "s"];
  }
  return total;
}

const alerts = loadRules().filter((r) => r.alert);

describe("rules/sshscrape.rules.yml", () => {
  it("passes promtool check rules", async () => {
    const r = await execa(PROMTOOL_BINARY, ["check", "rules", RULES_FILE], { reject: false });
    expect(r.stdout + r.stderr).toMatch(/SUCCESS: \d+ rules found/);
    expect(r.exitCode).toBe(0);
  });

  it("passes its promtool unit tests", async () => {
    const r = await execa(PROMTOOL_BINARY, ["test", "rules", UNIT_TESTS], { reject: false });
    expect(r.exitCode, r.stdout + r.stderr).toBe(0);
    expect(r.stdout).toContain("SUCCESS");
  });

  it("has a promtool case in which each alert fires, and one that checks its annotations", () => {
    const doc = parse(readFileSync(UNIT_TESTS, "utf8")) as {
      tests: Array<{
        alert_rule_test?: Array<{ alertname: string; exp_alerts?: Array<{ exp_annotations?: object }> }>;
        promql_expr_test?: Array<{ expr: string; exp_samples?: unknown[] }>;
      }>;
    };
    const withAnnotations = new Set<string>();
    const fired = new Set<string>();
    for (const t of doc.tests) {
      for (const a of t.alert_rule_test ?? []) {
        if ((a.exp_alerts ?? []).length > 0) fired.add(a.alertname);
        if ((a.exp_alerts ?? []).some((e) => e.exp_annotations)) withAnnotations.add(a.alertname);
      }
      for (const q of t.promql_expr_test ?? []) {
        const m = /alertname="(\w+)",alertstate="firing"/.exec(q.expr);
        if (m && (q.exp_samples ?? []).length > 0) fired.add(m[1] as string);
      }
    }
    const names = alerts.map((a) => a.alert as string);
    expect(names.filter((n) => !fired.has(n))).toEqual([]);
    expect(names.filter((n) => !withAnnotations.has(n))).toEqual([]);
  });

  it("gives every alert a summary and a description naming the host, target or proxy instance", () => {
    for (const a of alerts) {
      const { summary, description } = a.annotations ?? {};
      expect(summary, a.alert).toBeTruthy();
      expect(description, a.alert).toBeTruthy();
      if (a.alert === "SshscrapeProxyMetricsAbsent") continue; // there is no instance to name
      expect(`${summary}`, a.alert).toMatch(/\$labels\.(host|target|instance)/);
      expect(`${description}`, a.alert).toMatch(/\$labels\.(host|target|instance)/);
    }
  });

  it("waits out a proxy restart: every condition a restart causes must hold longer than its 60 s readiness bound", () => {
    // SshscrapeProxyRestarting counts restarts instead of waiting for one to end.
    for (const a of alerts.filter((x) => x.alert !== "SshscrapeProxyRestarting")) {
      expect(seconds(a.for), `${a.alert} for:`).toBeGreaterThanOrEqual(180);
    }
    for (const a of alerts.filter((x) => x.labels?.severity !== undefined)) {
      expect(["critical", "warning", "info"]).toContain(a.labels?.severity);
    }
  });
});
