/**
 * The fault matrix of issue 6: real OpenSSH sshd, real HTTP exporters and the real proxy process on loopback,
 * each row one fault. Prints a markdown table (#, fault, expected, observed, result) and exits 1 when any row
 * fails.
 *
 *   npm run test:faults                 # every row
 *   npm run test:faults -- --only 3,5   # some rows
 *   FAULTS_SEED=7 npm run test:faults -- --only 8   # another fuzz seed
 */
import { cell, type Row } from "./faults/harness.js";
import { cardinality } from "./faults/rows/cardinality.js";
import { clientAbort, exporterDown, maxResponseBytes } from "./faults/rows/channels.js";
import { connectTlsFails } from "./faults/rows/connect-tls.js";
import { malformed } from "./faults/rows/fuzz.js";
import { keyMode, noSecretsInLogs } from "./faults/rows/hygiene.js";
import { clientKeyRemoved, hostKeyReplaced } from "./faults/rows/identity.js";
import { sighupReload, sigtermDrain } from "./faults/rows/lifecycle.js";
import { openRelay } from "./faults/rows/open-relay.js";
import { manyHosts } from "./faults/rows/scale.js";
import { slowloris } from "./faults/rows/slowloris.js";
import { smuggling } from "./faults/rows/smuggling.js";
import { soak } from "./faults/rows/soak.js";
import { sshdFrozen, sshdRestart } from "./faults/rows/ssh-faults.js";
import { runRow } from "./faults/run-row.js";

const rows: Row[] = [
  sshdRestart,
  sshdFrozen,
  hostKeyReplaced,
  clientKeyRemoved,
  exporterDown,
  clientAbort,
  slowloris,
  malformed,
  manyHosts,
  maxResponseBytes,
  openRelay,
  soak,
  sighupReload,
  sigtermDrain,
  keyMode,
  noSecretsInLogs,
  smuggling,
  cardinality,
  connectTlsFails,
];

function selected(argv: string[]): Row[] {
  const i = argv.indexOf("--only");
  if (i < 0) return rows;
  const ids = new Set((argv[i + 1] ?? "").split(",").map((s) => Number(s.trim())));
  const unknown = [...ids].filter((id) => !rows.some((r) => r.id === id));
  if (unknown.length > 0 || ids.size === 0) {
    process.stderr.write(
      `--only expects row numbers 1–${rows.length} separated by commas, got "${argv[i + 1] ?? ""}"\n`,
    );
    process.exit(2);
  }
  return rows.filter((r) => ids.has(r.id));
}

const chosen = selected(process.argv.slice(2));
const started = performance.now();
const lines = ["| # | fault | expected | observed | result |", "|---|---|---|---|---|"];
const details: string[] = [];
let failed = 0;
for (const row of chosen) {
  process.stderr.write(`row ${row.id}: ${row.fault} … `);
  const r = await runRow(row);
  if (!r.pass) failed++;
  process.stderr.write(`${r.pass ? "PASS" : "FAIL"} (${(r.ms / 1000).toFixed(1)} s)\n`);
  if (!r.pass) process.stderr.write(`  ${r.observed}\n`);
  if (r.details) details.push("", `### Row ${row.id}: details`, "", ...r.details);
  lines.push(
    `| ${row.id} | ${cell(row.fault, 400)} | ${cell(row.expected, 400)} | ${cell(r.observed, 1200)} | ${r.pass ? "PASS" : "**FAIL**"} |`,
  );
}
process.stdout.write(
  `${lines.join("\n")}\n\n${chosen.length - failed}/${chosen.length} rows passed in ${((performance.now() - started) / 1000).toFixed(0)} s\n${details.join("\n")}\n`,
);
process.exit(failed > 0 ? 1 : 0);
