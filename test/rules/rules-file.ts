/** The shipped rules and dashboard, read the way their consumers read them (for the tests in this folder). */
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { parse } from "yaml";

const ROOT = join(import.meta.dirname, "..", "..");
export const RULES_FILE = join(ROOT, "rules", "sshscrape.rules.yml");
export const DASHBOARD_FILE = join(ROOT, "dashboards", "sshscrape.json");

export interface Rule {
  alert?: string;
  record?: string;
  expr: string;
  for?: string;
  keep_firing_for?: string;
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
}

export function loadRules(file = RULES_FILE): Rule[] {
  const doc = parse(readFileSync(file, "utf8")) as { groups: Array<{ name: string; rules: Rule[] }> };
  return doc.groups.flatMap((g) => g.rules);
}
