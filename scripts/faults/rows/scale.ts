/** Row 9: Prometheus starting cold against 100 hosts at once. */
import { metricsBody } from "../../../test/helpers/exporter.js";
import type { Sshd } from "../../../test/helpers/sshd.js";
import { scrape } from "../client.js";
import { histogram, ms, type Row } from "../harness.js";
import { countLog, inLab } from "../lab.js";
import { cpuMs } from "../proc.js";

const HOSTS = 100;
const PER_HOST = 10;
/** sshd accepts at most 16 ListenAddress lines, so the 100 hosts are spread over several sshd processes. */
const PER_SSHD = 16;

export const manyHosts: Row = {
  id: 9,
  fault: `${HOSTS * PER_HOST} concurrent cold scrapes over ${HOSTS} hosts (127.0.2.1–${HOSTS}, ${Math.ceil(HOSTS / PER_SSHD)} sshd processes, one exporter per host)`,
  expected:
    "all 200 with that host's own body within the 10 s scrape timeout they carry (the client gives up then, as Prometheus does); ≤ 1 SSH handshake per host (metric and sshd logins); no failed handshake",
  budgetMs: 90_000,
  run: () =>
    inLab(async (lab, c) => {
      const hosts = Array.from({ length: HOSTS }, (_v, i) => `127.0.2.${i + 1}`);
      const sshds: Array<{ sshd: Sshd; hosts: string[] }> = [];
      for (let i = 0; i < HOSTS; i += PER_SSHD) {
        const group = hosts.slice(i, i + PER_SSHD);
        // One sshd stands in for 16 machines, so it needs the startup limits 16 separate sshds would have.
        sshds.push({ sshd: await lab.sshd({ addresses: group, highLimits: true }), hosts: group });
      }
      const bodies = new Map<string, Buffer>();
      const bodyOf = (h: string) => {
        const body = Buffer.concat([Buffer.from(`# host ${h}\n`), metricsBody(8_000)]);
        bodies.set(h, body);
        return body;
      };
      // Every host's exporter on one port (one exporter entry in the list): the first binds port 0, the
      // rest take the same number on their own addresses (127.0.2.x, which nothing else uses).
      const first = await lab.exporter({ host: hosts[0], port: 0, body: bodyOf(hosts[0] as string) });
      const port = first.port;
      await Promise.all(hosts.slice(1).map((h) => lab.exporter({ host: h, port, body: bodyOf(h) })));
      lab.writeKnownHosts(sshds.map((s) => s.sshd.knownHostsLine()));
      const proxy = await lab.proxy({
        // Cold on purpose: every host's first handshake is made by the scrapes themselves.
        proxy: { preconnect: false },
        targets: sshds.flatMap((s) =>
          s.hosts.map((h) => ({
            host: h,
            ssh: { port: s.sshd.port, remoteAddress: h },
            exporters: [{ name: "node", port }],
          })),
        ),
      });

      const t0 = performance.now();
      const jobs = hosts.flatMap((h) =>
        Array.from({ length: PER_HOST }, async () => ({
          host: h,
          reply: await scrape(proxy.port, `${h}:${port}`, {
            headers: { "X-Prometheus-Scrape-Timeout-Seconds": "10" },
            // Prometheus gives up at its scrape timeout; a later answer is a failed scrape.
            timeoutMs: 10_000,
          }),
        })),
      );
      const results = await Promise.all(jobs);
      const wall = performance.now() - t0;
      const right = results.filter(
        (r) => r.reply.status === 200 && r.reply.body.equals(bodies.get(r.host) as Buffer),
      ).length;
      const lat = results.map((r) => r.reply.elapsedMs).sort((a, b) => a - b);
      c.check(
        right === HOSTS * PER_HOST,
        `${right}/${HOSTS * PER_HOST} 200 with the right body (${histogram(results.map((r) => r.reply.status ?? r.reply.error ?? "?"))}); wall ${ms(wall)}, p50 ${ms(lat[Math.floor(lat.length / 2)] ?? 0)}, max ${ms(lat[lat.length - 1] ?? 0)}`,
      );
      const m = await proxy.metrics();
      const ok = m.matching("sshscrape_ssh_handshakes_total", { result: "success" });
      const most = Math.max(0, ...ok.map((s) => s.value));
      const failed = m.sum("sshscrape_ssh_handshakes_total", { result: "failure" });
      c.check(
        ok.length === HOSTS && most <= 1 && failed === 0,
        `handshakes: ${ok.length} hosts with success, max ${most} per host, ${failed} failed`,
      );
      c.note(`proxy CPU ${ms(cpuMs(proxy.pid))} in total`);
      const logins = sshds.reduce((a, s) => a + countLog(s.sshd, /Accepted publickey/), 0);
      c.check(logins === HOSTS, `sshd logins: ${logins}`);
    }),
};
