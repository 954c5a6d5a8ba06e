/** Rows 13–14: signals while traffic flows. */
import { renameSync, writeFileSync } from "node:fs";
import type { ServerResponse } from "node:http";
import { connect } from "node:net";
import { type Exporter, metricsBody } from "../../../test/helpers/exporter.js";
import type { Sshd } from "../../../test/helpers/sshd.js";
import { type Reply, scrape } from "../client.js";
import { histogram, ms, poll, quote, type Row, sleep } from "../harness.js";
import { inLab, Lab } from "../lab.js";

/** Keeps `concurrency` scrapes of `target` going until stop() and returns every reply. */
function load(port: number, target: string, concurrency: number) {
  let stopped = false;
  const replies: Reply[] = [];
  const workers = Array.from({ length: concurrency }, async () => {
    while (!stopped) replies.push(await scrape(port, target, { timeoutMs: 15_000 }));
  });
  return {
    replies,
    async stop() {
      stopped = true;
      await Promise.all(workers);
      return replies;
    },
  };
}

export const sighupReload: Row = {
  id: 13,
  fault:
    "SIGHUP during load with a changed known_hosts (one host added, one host's key replaced by a wrong one)",
  expected:
    "no request of the running load lost (all 200); afterwards the added host scrapes 200 (it was 502 before), and the host whose key was replaced (200 before, over a connection verified with its real key) has that connection closed at the reload and gets 502 host key mismatch",
  budgetMs: 40_000,
  run: () =>
    inLab(async (lab, c) => {
      const names = ["127.0.3.1", "127.0.3.2", "127.0.3.3"];
      const sshds: Sshd[] = [];
      const exps: Exporter[] = [];
      for (const h of names) {
        sshds.push(await lab.sshd({ addresses: [h] }));
        exps.push(await lab.exporter({ host: h }));
      }
      const [s1, s2, s3] = sshds as [Sshd, Sshd, Sshd];
      const [e1, e2, e3] = exps as [Exporter, Exporter, Exporter];
      lab.writeKnownHosts([s1.knownHostsLine(), s3.knownHostsLine()]);
      const proxy = await lab.proxy({
        // Short, so the 502 for the not-yet-known host is not still cached as backoff after the reload.
        proxy: { backoff: "1s" },
        targets: sshds.map((s, i) => ({
          host: names[i] as string,
          ssh: { port: s.port, remoteAddress: names[i] },
          exporters: [{ name: "node", port: (exps[i] as Exporter).port }],
        })),
      });
      const t1 = `${names[0]}:${e1.port}`;
      const t2 = `${names[1]}:${e2.port}`;
      const t3 = `${names[2]}:${e3.port}`;
      const before = await scrape(proxy.port, t2);
      c.check(
        before.status === 502,
        `added host before reload: ${before.status ?? before.error} ${quote(before.body)}`,
      );
      const trusted = await scrape(proxy.port, t3);
      c.check(
        trusted.status === 200,
        `host to be replaced, before reload: ${trusted.status ?? trusted.error}`,
      );

      const running = load(proxy.port, t1, 8);
      // Load is flowing once replies come back; the reload must land while requests are in flight.
      await poll(() => running.replies.length >= 16, 10_000, 10);
      // Rename into place, as config management does, so the proxy never reads a half-written file.
      const next = `${lab.knownHostsPath}.new`;
      const wrongForS3 = s2.knownHostsLine().replace(/^\S+/, `[${names[2]}]:${s3.port}`);
      writeFileSync(next, `${s1.knownHostsLine()}\n${s2.knownHostsLine()}\n${wrongForS3}\n`);
      renameSync(next, lab.knownHostsPath);
      const atSignal = running.replies.length;
      proxy.signal("SIGHUP");
      await poll(
        () => proxy.logLines().some((l) => l.msg === "reloaded known_hosts, keys and credentials"),
        10_000,
        10,
      );
      // …and keeps flowing after it: a full round of the 8 workers answered after the reload.
      const atReload = running.replies.length;
      await poll(() => running.replies.length >= atReload + 16, 10_000, 10);
      c.note(`${atReload - atSignal} replies between SIGHUP and the reload log line`);
      const replies = await running.stop();
      const good = replies.filter((r) => r.status === 200 && r.body.equals(e1.body)).length;
      c.check(
        good === replies.length && replies.length > 0,
        `load during reload: ${histogram(replies.map((r) => r.status ?? r.error ?? "?"))}`,
      );
      const added = await scrape(proxy.port, t2);
      c.check(
        added.status === 200,
        `added host after reload: ${added.status ?? added.error}${added.status === 200 ? "" : ` ${quote(added.body)}`}`,
      );
      const changed = await scrape(proxy.port, t3);
      c.check(
        changed.status === 502 && /host key mismatch/i.test(changed.body.toString()),
        `host with replaced key after reload: ${changed.status ?? changed.error} ${quote(changed.body)}`,
      );
      const closedLog = proxy.logLines().filter((l) => /no longer accepts its host key/.test(l.msg ?? ""));
      c.check(
        closedLog.length === 1,
        `connections closed at the reload for a no-longer-accepted host key: ${closedLog.length}`,
      );
      const reloadLog = proxy.logLines().filter((l) => /reload/i.test(l.msg ?? "")).length;
      c.note(`${reloadLog} reload log line(s)`);
    }),
};

export const sigtermDrain: Row = {
  id: 14,
  fault: "SIGTERM during load (20 scrapes in flight on a 1.5 s exporter, gracePeriod 5 s)",
  expected:
    "the 20 in-flight scrapes finish 200 with full bodies; new connections refused after the signal; exit code 0 within the grace period",
  budgetMs: 30_000,
  run: () =>
    inLab(async (lab, c) => {
      const sshd = await lab.sshd();
      const body = metricsBody(20_000);
      const exp = await lab.exporter({
        handler: (_req, res: ServerResponse) =>
          setTimeout(() => {
            res.writeHead(200, { "content-type": "text/plain", "content-length": body.length });
            res.end(body);
          }, 1500),
      });
      lab.writeKnownHosts([sshd.knownHostsLine()]);
      const proxy = await lab.proxy({
        proxy: { gracePeriod: "5s" },
        targets: [Lab.target(sshd, [exp.port])],
      });
      const target = `127.0.0.1:${exp.port}`;
      const warm = await scrape(proxy.port, target);
      c.check(warm.status === 200, `warm-up ${warm.status ?? warm.error}`);
      const inflight = Array.from({ length: 20 }, () => scrape(proxy.port, target, { timeoutMs: 15_000 }));
      await poll(() => exp.requests.length >= 21, 5000, 10);
      const t0 = performance.now();
      proxy.signal("SIGTERM");
      // Once the proxy says it is stopping it has closed its listener (index.ts close()).
      await poll(() => proxy.logLines().some((l) => l.msg === "stopping"), 5000, 20);
      const refused = await new Promise<string>((res) => {
        const s = connect(proxy.port, "127.0.0.1");
        s.once("connect", () => {
          s.destroy();
          res("accepted");
        });
        s.once("error", (e: NodeJS.ErrnoException) => res(e.code ?? e.message));
      });
      c.check(refused === "ECONNREFUSED", `new connection after "stopping": ${refused}`);
      const replies = await Promise.all(inflight);
      const good = replies.filter((r) => r.status === 200 && r.body.equals(body)).length;
      c.check(
        good === 20,
        `in-flight: ${good}/20 200 with full body (${histogram(replies.map((r) => r.status ?? r.error ?? "?"))})`,
      );
      const exit = await Promise.race([proxy.exit, sleep(15_000).then(() => undefined)]);
      const took = performance.now() - t0;
      // Within the grace period by the proxy's own account (it never had to cut requests off); the
      // wall-clock bound is generous and only catches a proxy that hung after draining.
      const cutOff = proxy.logLines().some((l) => l.msg === "grace period over; closing remaining requests");
      c.check(
        exit?.code === 0 && !cutOff && took <= 5000 + 5000,
        exit
          ? `exit code ${exit.code ?? exit.signal} ${ms(took)} after SIGTERM${cutOff ? ", grace period ran out" : ""}`
          : "still running 15 s after SIGTERM",
      );
    }),
};
