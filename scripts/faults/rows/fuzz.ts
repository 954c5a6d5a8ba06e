/** Row 8: hostile bytes on the proxy's listener. */

import { startCanary } from "../canary.js";
import { pool, raw, scrape } from "../client.js";
import { categories, fuzzed } from "../fuzz.js";
import { Checks, histogram, mb, type Row, sleep } from "../harness.js";
import { Lab } from "../lab.js";
import { alive } from "../proc.js";

const TOTAL = 10_000;
export const SEED = Number(process.env.FAULTS_SEED ?? 6);

export const malformed: Row = {
  id: 8,
  fault: `${TOTAL / 1000} 000 malformed requests (${categories.length} kinds: request lines, targets, headers, framing, encodings, mutations; seed ${SEED})`,
  expected:
    "each answered 4xx or closed, none hangs; exporter and an unlisted canary port receive nothing; proxy alive and scraping; RSS growth ≤ 10 MB from 1 000 to 10 000",
  budgetMs: 90_000,
  async run() {
    const c = new Checks();
    const lab = new Lab();
    try {
      const sshd = await lab.sshd();
      const exp = await lab.exporter();
      const canary = await startCanary();
      lab.onClose(() => canary.close());
      lab.writeKnownHosts([sshd.knownHostsLine()]);
      const proxy = await lab.proxy({ targets: [Lab.target(sshd, [exp.port])] });
      const targets = { allowed: `127.0.0.1:${exp.port}`, unlisted: `127.0.0.1:${canary.port}` };
      const warm = await scrape(proxy.port, targets.allowed);
      c.check(warm.status === 200, `warm-up ${warm.status ?? warm.error}`);
      const seen = exp.requests.length;

      const outcomes: string[] = [];
      const bad: string[] = [];
      let rssAt1k = 0;
      await pool(TOTAL, 64, async (i) => {
        const f = fuzzed(SEED, i, targets);
        const r = await raw(proxy.port, f.bytes, { halfClose: true, timeoutMs: 5000 });
        const ok = r.status !== undefined ? r.status >= 400 && r.status < 500 : r.closed;
        const outcome = r.status !== undefined ? String(r.status) : r.timedOut ? "hang" : "closed";
        outcomes.push(outcome);
        if (!ok) bad.push(`#${i} ${f.category}→${outcome}`);
        if (i === 1000) rssAt1k = proxy.rssKb();
      });
      await sleep(500);
      const rssEnd = proxy.rssKb();
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
      const growth = rssEnd - rssAt1k;
      c.check(growth <= 10 * 1024, `RSS ${mb(rssAt1k)} → ${mb(rssEnd)} (+${mb(growth)})`);
    } finally {
      await lab.close();
    }
    return c.result();
  },
};
