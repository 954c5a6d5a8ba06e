/**
 * Row 18: the proxy's own series must stay bounded when clients choose the targets. In sshified mode any
 * port on any host in known_hosts is allowed, so a local user can ask for thousands of distinct targets.
 */
import { freePort } from "../../../test/helpers/processes.js";
import { pool, scrape } from "../client.js";
import { histogram, type Row } from "../harness.js";
import { inLab } from "../lab.js";
import { launchProxy } from "../proxy.js";

const REQUESTS = 2000;
/** MAX_EXTRA_LABELS in src/proxy/metrics.ts, plus "overflow". */
const TARGET_LABELS = 64 + 1;

export const cardinality: Row = {
  id: 18,
  fault: `sshified mode (flags only): ${REQUESTS} requests to distinct ports on one host in known_hosts (nothing listens there)`,
  expected: `every request counted; at most ${TARGET_LABELS} target label values in /metrics; /metrics grows by < 150 KB (65 targets × 15 duration series) (it grew by 2.5 MB, 32 000 series, before the bound)`,
  budgetMs: 120_000,
  run: () =>
    inLab(async (lab, c) => {
      const sshd = await lab.sshd();
      lab.writeKnownHosts([sshd.knownHostsLine()]);
      const port = await freePort();
      const proxy = await launchProxy(undefined, {
        args: [
          "--proxy.listen-addr",
          `127.0.0.1:${port}`,
          "--ssh.user",
          lab.user,
          "--ssh.key-file",
          sshd.clientKeyPath,
          "--ssh.port",
          String(sshd.port),
          "--ssh.known-hosts-file",
          lab.knownHostsPath,
        ],
      });
      lab.proxies.push(proxy);
      const before = await proxy.metrics();
      const statuses = await pool(REQUESTS, 16, async (i) => {
        const r = await scrape(proxy.port, `127.0.0.1:${20000 + i}`, { timeoutMs: 10_000 });
        return r.status ?? r.error ?? "?";
      });
      const after = await proxy.metrics();
      const targets = new Set(after.matching("sshscrape_requests_total").map((s) => s.labels.target));
      const counted = after.sum("sshscrape_requests_total");
      c.note(`statuses ${histogram(statuses)}`);
      c.check(counted === REQUESTS, `sshscrape_requests_total sums to ${counted} of ${REQUESTS}`);
      c.check(targets.size <= TARGET_LABELS, `${targets.size} target label values`);
      const grew = after.text.length - before.text.length;
      c.check(
        grew < 150_000,
        `/metrics grew by ${(grew / 1024).toFixed(0)} KB (${after.samples.length} samples)`,
      );
    }),
};
