/** Row 12: a long run must not grow memory, descriptors, listeners or channels. */
import { metricsBody } from "../../../test/helpers/exporter.js";
import { KeepAliveClient } from "../client.js";
import { mb, ms, poll, type Row, sleep } from "../harness.js";
import { inLab, Lab } from "../lab.js";
import { cpuMs, descendants } from "../proc.js";

const TOTAL = Number(process.env.FAULTS_SOAK_REQUESTS ?? 100_000);
const WARMUP = 10_000;
const CONCURRENCY = 32;

export const soak: Row = {
  id: 12,
  fault: `${TOTAL.toLocaleString("en")} requests (${CONCURRENCY} keep-alive connections, 10 kB body)`,
  expected: `all 200; RSS (after a full GC) grows ≤ 20 MB after a ${WARMUP.toLocaleString("en")}-request warm-up; descriptors back to the warm-up count; sshscrape_ssh_channels 0, 1 SSH connection; no MaxListenersExceededWarning`,
  budgetMs: 200_000,
  run: () =>
    inLab(async (lab, c) => {
      const sshd = await lab.sshd();
      const exp = await lab.exporter({ body: metricsBody(10_000) });
      lab.writeKnownHosts([sshd.knownHostsLine()]);
      const proxy = await lab.proxy({ targets: [Lab.target(sshd, [exp.port])] }, { inspect: true });
      const target = `127.0.0.1:${exp.port}`;
      const statuses = new Map<string, number>();
      const tally = (r: { status?: number; body?: Buffer; error?: string }) => {
        const k =
          r.status === 200 && !r.error
            ? r.body?.equals(exp.body)
              ? "200"
              : "200 with a wrong body"
            : String(r.status ?? r.error);
        statuses.set(k, (statuses.get(k) ?? 0) + 1);
      };
      /** Runs `n` scrapes over fresh keep-alive clients, then closes them so the proxy's sockets go too. */
      const phase = async (n: number) => {
        const clients = Array.from({ length: CONCURRENCY }, () => new KeepAliveClient(proxy.port));
        let next = 0;
        await Promise.all(
          clients.map(async (client) => {
            while (next < n) {
              next++;
              tally(await client.get(target));
            }
            client.close();
          }),
        );
      };
      /** Waits until the proxy holds only its idle state: no channel, client sockets gone. */
      const idle = async () => {
        await poll(async () => (await proxy.metrics()).sum("sshscrape_ssh_channels") === 0, 5000);
        let last = -1;
        await poll(
          () => {
            const now = proxy.fds().total;
            const stable = now === last;
            last = now;
            return stable;
          },
          5000,
          300,
        );
        await sleep(300);
        return { rss: await proxy.rssAfterGcKb(), fds: proxy.fds() };
      };

      await phase(WARMUP);
      const base = await idle();
      const sshdPid = sshd.pid() as number;
      const cpu0 = {
        proxy: cpuMs(proxy.pid),
        sshd: cpuMs(sshdPid) + descendants(sshdPid).reduce((a, p) => a + cpuMs(p), 0),
        self: process.cpuUsage(),
      };
      const t0 = performance.now();
      await phase(TOTAL - WARMUP);
      const took = performance.now() - t0;
      const n = TOTAL - WARMUP;
      const self = process.cpuUsage(cpu0.self);
      const perReq = (x: number) => `${((x / n) * 1000).toFixed(0)} µs`;
      c.note(
        `CPU per request: proxy ${perReq(cpuMs(proxy.pid) - cpu0.proxy)}, sshd ${perReq(cpuMs(sshdPid) + descendants(sshdPid).reduce((a, p) => a + cpuMs(p), 0) - cpu0.sshd)}, this script (client + exporter) ${perReq((self.user + self.system) / 1000)}`,
      );
      const end = await idle();

      const all = [...statuses.values()].reduce((a, b) => a + b, 0);
      c.check(
        statuses.get("200") === TOTAL,
        `${all.toLocaleString("en")} done: ${[...statuses].map(([k, n]) => `${k}×${n}`).join(", ")}; ${Math.round((TOTAL - WARMUP) / (took / 1000))} req/s`,
      );
      const growth = end.rss - base.rss;
      c.check(growth <= 20 * 1024, `RSS ${mb(base.rss)} → ${mb(end.rss)} (+${mb(growth)}) in ${ms(took)}`);
      c.check(
        end.fds.total <= base.fds.total,
        `descriptors ${base.fds.total} → ${end.fds.total} (sockets ${base.fds.sockets} → ${end.fds.sockets})`,
      );
      const m = await proxy.metrics();
      const ch = m.sum("sshscrape_ssh_channels");
      const conns = m.sum("sshscrape_ssh_connections");
      c.check(ch === 0 && conns === 1, `channels ${ch}, SSH connections ${conns}`);
      const warnings = (proxy.logText().match(/MaxListenersExceededWarning/g) ?? []).length;
      c.check(warnings === 0, `MaxListenersExceededWarning ×${warnings}`);
    }),
};
