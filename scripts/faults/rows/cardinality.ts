/**
 * Row 18: the proxy's own series must stay bounded when clients choose the targets. In sshified mode any
 * port on any host in known_hosts is allowed, so a local user can ask for thousands of distinct targets.
 */
import { pool, scrape } from "../client.js";
import { histogram, mb, type Row } from "../harness.js";
import { inLab } from "../lab.js";
import { launchProxy } from "../proxy.js";

const REQUESTS = 2000;
/** MAX_EXTRA_LABELS in src/proxy/metrics.ts, plus "overflow". */
const TARGET_LABELS = 64 + 1;

export const cardinality: Row = {
  id: 18,
  fault: `sshified mode (flags only): 2 × ${REQUESTS} requests to distinct ports on one host in known_hosts (nothing listens there)`,
  expected: `every request counted; at most ${TARGET_LABELS} target label values in /metrics; /metrics grows by < 150 KB (65 targets × 15 duration series; 2 000 requests added 32 000 series, 2.5 MB, before the bound); the second ${REQUESTS} requests grow RSS after GC by < 3 MB`,
  budgetMs: 120_000,
  run: () =>
    inLab(async (lab, c) => {
      const sshd = await lab.sshd();
      lab.writeKnownHosts([sshd.knownHostsLine()]);
      const proxy = await launchProxy(undefined, {
        args: [
          "--proxy.listen-addr",
          "127.0.0.1:0", // the proxy logs the port it bound
          "--ssh.user",
          lab.user,
          "--ssh.key-file",
          sshd.clientKeyPath,
          "--ssh.port",
          String(sshd.port),
          "--ssh.known-hosts-file",
          lab.knownHostsPath,
        ],
        inspect: true,
      });
      lab.proxies.push(proxy);
      const before = await proxy.metrics();
      const batch = async (first: number) =>
        pool(REQUESTS, 16, async (i) => {
          const r = await scrape(proxy.port, `127.0.0.1:${first + i}`, { timeoutMs: 10_000 });
          return r.status ?? r.error ?? "?";
        });
      // The first batch warms the process up (JIT, buffers); the second, to as many new ports, must not grow it.
      const statuses = await batch(20_000);
      const rssWarm = await proxy.rssAfterGcKb();
      statuses.push(...(await batch(20_000 + REQUESTS)));
      const rssAfter = await proxy.rssAfterGcKb();
      const after = await proxy.metrics();
      const targets = new Set(after.matching("sshscrape_requests_total").map((s) => s.labels.target));
      const counted = after.sum("sshscrape_requests_total");
      c.note(`statuses ${histogram(statuses)}`);
      c.check(counted === 2 * REQUESTS, `sshscrape_requests_total sums to ${counted} of ${2 * REQUESTS}`);
      c.check(targets.size <= TARGET_LABELS, `${targets.size} target label values`);
      const grew = after.text.length - before.text.length;
      c.check(
        grew < 150_000,
        `/metrics grew by ${(grew / 1024).toFixed(0)} KB (${after.samples.length} samples)`,
      );
      c.check(
        rssAfter - rssWarm < 3 * 1024,
        `RSS after GC ${mb(rssWarm)} after the first ${REQUESTS}, ${mb(rssAfter)} after ${REQUESTS} more`,
      );
    }),
};
