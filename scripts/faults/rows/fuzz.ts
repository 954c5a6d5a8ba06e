/** Row 8: hostile bytes on the proxy's listener. */

import { startCanary } from "../canary.js";
import { pool, raw, scrape } from "../client.js";
import { categories, fuzzed } from "../fuzz.js";
import { histogram, mb, type Row } from "../harness.js";
import { inLab, Lab } from "../lab.js";
import { alive } from "../proc.js";

const TOTAL = 10_000;
const WARMUP = 1_000;
export const SEED = Number(process.env.FAULTS_SEED ?? 6);

export const malformed: Row = {
  id: 8,
  fault: `${TOTAL / 1000} 000 malformed requests (${categories.length} kinds: request lines, targets, headers, framing, encodings, mutations; seed ${SEED})`,
  expected:
    "each answered 4xx or closed, none hangs; exporter and an unlisted canary port receive nothing; proxy alive and scraping; RSS (after a full GC) grows ≤ 10 MB from request 1 000 to 10 000",
  budgetMs: 90_000,
  run: () =>
    inLab(async (lab, c) => {
      const sshd = await lab.sshd();
      const exp = await lab.exporter();
      const canary = await startCanary();
      lab.onClose(() => canary.close());
      lab.writeKnownHosts([sshd.knownHostsLine()]);
      const proxy = await lab.proxy({ targets: [Lab.target(sshd, [exp.port])] }, { inspect: true });
      const targets = { allowed: `127.0.0.1:${exp.port}`, unlisted: `127.0.0.1:${canary.port}` };
      const warm = await scrape(proxy.port, targets.allowed);
      c.check(warm.status === 200, `warm-up ${warm.status ?? warm.error}`);
      const seen = exp.requests.length;

      const outcomes: string[] = [];
      const bad: string[] = [];
      const byCategory = new Map<string, string[]>();
      const send = async (i: number) => {
        const f = fuzzed(SEED, i, targets);
        const r = await raw(proxy.port, f.bytes, { halfClose: true, timeoutMs: 5000 });
        const ok = r.status !== undefined ? r.status >= 400 && r.status < 500 : r.closed;
        const outcome = r.status !== undefined ? String(r.status) : r.timedOut ? "hang" : "closed";
        outcomes.push(outcome);
        byCategory.set(f.category, [...(byCategory.get(f.category) ?? []), outcome]);
        if (!ok) bad.push(`#${i} ${f.category}→${outcome}`);
      };
      // The first 1 000 bring the heap to its working size; "flat" is judged from there, after full GCs.
      await pool(WARMUP, 64, send);
      const rssWarm = await proxy.rssAfterGcKb();
      await pool(TOTAL - WARMUP, 64, (i) => send(WARMUP + i));
      const rssEnd = await proxy.rssAfterGcKb();
      c.check(
        bad.length === 0,
        `${TOTAL}: ${histogram(outcomes)}${bad.length ? `; ${bad.length} wrong, e.g. ${bad.slice(0, 3).join(", ")}` : ""}`,
      );
      const leaked = exp.requests.length - seen;
      c.check(
        leaked === 0 && canary.connections() === 0,
        `exporter got ${leaked}, canary got ${canary.connections()} connection(s)`,
      );
      const after = await scrape(proxy.port, targets.allowed);
      c.check(
        alive(proxy.pid) && after.status === 200,
        `alive, scrape afterwards ${after.status ?? after.error}`,
      );
      c.details.push(
        `Seed ${SEED}; reproduce one request with \`fuzzed(${SEED}, INDEX, targets)\` from scripts/faults/fuzz.ts.`,
        "",
        "| kind | sent | outcomes |",
        "|---|---|---|",
        ...[...byCategory].map(([k, v]) => `| ${k} | ${v.length} | ${histogram(v)} |`),
      );
      const growth = rssEnd - rssWarm;
      c.check(
        growth <= 10 * 1024,
        `RSS after full GC ${mb(rssWarm)} at ${WARMUP} → ${mb(rssEnd)} at ${TOTAL} (+${mb(growth)})`,
      );
    }),
};
