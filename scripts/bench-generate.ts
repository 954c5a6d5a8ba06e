/**
 * Speed of the CLI as a user meets it: a fresh `node` process each run (no warm cache in the process), timed
 * with hyperfine. Budgets (issue 3): `generate` for a 1 000-target list ≤ 1.5 s, `sshscrape --help` ≤ 400 ms.
 * Bare `node -e ""` is measured in the same run as the baseline, so the ratios say what sshscrape itself adds.
 *   npm run build && npm run bench:generate [-- --targets 1000 --runs 10]
 */
import { execFileSync } from "node:child_process";
import { mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { cpus, loadavg, tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { parseArgs } from "node:util";

const { values } = parseArgs({
  options: { targets: { type: "string", default: "1000" }, runs: { type: "string", default: "10" } },
});
const targets = Number(values.targets);
const root = resolve(import.meta.dirname, "..");
const bin = join(root, "bin/run.js");
const dir = mkdtempSync(join(tmpdir(), "sshscrape-bench-"));

// A realistic list: every target with a host key, two exporters, labels; plus a sops key.
const hostKey = readFileSync(join(root, "examples/minimal.yaml"), "utf8").match(
  /ssh-ed25519 [A-Za-z0-9+/=]+/,
)?.[0];
const lines = [
  "ssh:",
  "  key: { sops: { file: ./secrets/monitoring.yaml, key: sshscrape_ssh_key } }",
  "defaults: { scrapeInterval: 30s, scrapeTimeout: 10s, labels: { env: prod } }",
  "targets:",
];
for (let i = 0; i < targets; i++) {
  lines.push(
    `  - host: host${i}.example.org`,
    `    hostKeys: ["${hostKey}"]`,
    `    labels: { rack: r${i % 20} }`,
    "    exporters:",
    "      - { name: node, port: 9100 }",
    `      - { name: app, port: 8080, scheme: ${i % 3 === 0 ? "https" : "http"} }`,
  );
}
const list = join(dir, "targets.yaml");
writeFileSync(list, `${lines.join("\n")}\n`);

const exported = join(dir, "hyperfine.json");
execFileSync(
  "hyperfine",
  [
    "--runs",
    String(values.runs),
    "--warmup",
    "1",
    "-N",
    "--export-json",
    exported,
    "-n",
    "node -e ''",
    "node -e ''",
    "-n",
    "sshscrape --help",
    `node ${bin} --help`,
    "-n",
    `sshscrape generate (${targets} targets)`,
    `node ${bin} generate ${list}`,
    "-n",
    `sshscrape generate --split --remote --out (${targets} targets)`,
    `node ${bin} generate ${list} --out ${join(dir, "out")} --split --force`,
  ],
  { stdio: ["ignore", "inherit", "inherit"] },
);

interface Result {
  command: string;
  mean: number;
  stddev: number;
  max: number;
  user: number;
  system: number;
}
const results = (JSON.parse(readFileSync(exported, "utf8")) as { results: Result[] }).results;
const base = results[0] as Result;
const budget: Record<string, number> = {
  "sshscrape --help": 0.4,
  [`sshscrape generate (${targets} targets)`]: 1.5,
};
let over = false;
// CPU time (user + system) beside wall time: on a shared machine wall time includes waiting for a core.
console.log(
  `\nload average: ${loadavg()
    .map((l) => l.toFixed(1))
    .join(" ")} on ${cpus().length} CPUs`,
);
console.log(
  "\n| command | wall mean ± sd | wall max | CPU (user+sys) | × node (wall) | × node (CPU) | budget |\n|---|---|---|---|---|---|---|",
);
const ms = (s: number) => `${(s * 1000).toFixed(0)} ms`;
for (const r of results) {
  const b = budget[r.command];
  if (b !== undefined && r.mean > b) over = true;
  const cpu = r.user + r.system;
  console.log(
    `| ${r.command} | ${ms(r.mean)} ± ${ms(r.stddev)} | ${ms(r.max)} | ${ms(cpu)} | ${(r.mean / base.mean).toFixed(1)} | ${(cpu / (base.user + base.system)).toFixed(1)} | ${b !== undefined ? `${b * 1000} ms${r.mean > b ? " (over)" : ""}` : ""} |`,
  );
}
process.exitCode = over ? 1 : 0;
