/** Rows 1–2: the SSH server goes away (restart) or stops answering (SIGSTOP) while scrapes run. */
import type { ServerResponse } from "node:http";
import { metricsBody } from "../../../test/helpers/exporter.js";
import { scrape } from "../client.js";
import { histogram, ms, poll, quote, type Row } from "../harness.js";
import { countLog, inLab, Lab } from "../lab.js";

/** Scheduling slack on a loaded machine for wall-clock bounds that only back up a mechanism check. */
const SLACK_MS = 3000;

/** The 504 body names the budget the proxy computed: "timed out in phase X after N ms". */
function withinDeadline(body: string, maxMs: number): boolean {
  const n = /timed out in phase [\w-]+ after (\d+) ms/.exec(body)?.[1];
  return n !== undefined && Number(n) <= maxMs;
}

/** A handler that waits `delay()` ms before answering, so a request is surely in flight on the channel. */
function delayed(body: Buffer, delay: () => number) {
  return (_req: unknown, res: ServerResponse) => {
    setTimeout(() => {
      if (res.destroyed) return;
      res.writeHead(200, { "content-type": "text/plain", "content-length": body.length });
      res.end(body);
    }, delay());
  };
}

export const sshdRestart: Row = {
  id: 1,
  fault: "sshd restarted mid-scrape (listener and sessions killed, new sshd on the same port)",
  expected:
    "in-flight request 502 (or 200 with the full body); the next 20 concurrent scrapes 200 with no manual action; exactly 1 new SSH login for them (no handshake storm)",
  budgetMs: 30_000,
  run: () =>
    inLab(async (lab, c) => {
      const sshd = await lab.sshd();
      const body = metricsBody(20_000);
      let delay = 1500;
      const exp = await lab.exporter({ handler: delayed(body, () => delay) });
      lab.writeKnownHosts([sshd.knownHostsLine()]);
      const proxy = await lab.proxy({ proxy: { backoff: "1s" }, targets: [Lab.target(sshd, [exp.port])] });
      const target = `127.0.0.1:${exp.port}`;
      const warm = await scrape(proxy.port, target);
      c.check(warm.status === 200, `warm-up scrape ${warm.status ?? warm.error}`);

      const inflight = scrape(proxy.port, target, { timeoutMs: 15_000 });
      await poll(() => exp.requests.length >= 2, 5000);
      Lab.killSessions(sshd);
      await sshd.restart();
      const r = await inflight;
      const clean = r.status === 502 || (r.status === 200 && r.complete && r.body.equals(body));
      c.check(
        clean,
        `in-flight: ${r.status ?? r.error} after ${ms(r.elapsedMs)}${r.status === 502 ? ` ${quote(r.body)}` : ""}`,
      );

      delay = 0;
      const next = await Promise.all(
        Array.from({ length: 20 }, () => scrape(proxy.port, target, { timeoutMs: 15_000 })),
      );
      const good = next.filter((n) => n.status === 200 && n.body.equals(body)).length;
      c.check(
        good === 20,
        `next 20: ${histogram(next.map((n) => n.status ?? n.error ?? "?"))}, ${good} bodies intact`,
      );
      const logins = countLog(sshd, /Accepted publickey/);
      c.check(logins === 1, `restarted sshd saw ${logins} login(s) for 20 requests`);
      const m = await proxy.metrics();
      const ok = m.sum("sshscrape_ssh_handshakes_total", { result: "success" });
      const failed = m.sum("sshscrape_ssh_handshakes_total", { result: "failure" });
      c.check(ok === 2 && failed <= 1, `handshakes: ${ok} success, ${failed} failure in total`);
    }),
};

export const sshdFrozen: Row = {
  id: 2,
  fault: "sshd frozen (SIGSTOP to listener and sessions), then SIGCONT",
  expected:
    "504 within the 2 s X-Prometheus-Scrape-Timeout-Seconds, body naming the phase; connection declared dead (sshscrape_ssh_up 0) by keepalive; scrapes 200 again ≤ 10 s after SIGCONT",
  budgetMs: 45_000,
  run: () =>
    inLab(async (lab, c) => {
      const sshd = await lab.sshd();
      const exp = await lab.exporter();
      lab.writeKnownHosts([sshd.knownHostsLine()]);
      const proxy = await lab.proxy({
        proxy: {
          keepaliveInterval: "1s",
          keepaliveCountMax: 2,
          backoff: "1s",
          connectTimeout: "2s",
          handshakeTimeout: "2s",
        },
        targets: [Lab.target(sshd, [exp.port])],
      });
      const target = `127.0.0.1:${exp.port}`;
      const header = { "X-Prometheus-Scrape-Timeout-Seconds": "2" };
      const warm = await scrape(proxy.port, target, { headers: header });
      c.check(warm.status === 200, `warm-up ${warm.status ?? warm.error}`);
      const before = await proxy.metrics();
      c.note(`ssh_up before ${before.sum("sshscrape_ssh_up")}`);

      const frozenAt = performance.now();
      Lab.signalAll(sshd, "SIGSTOP");
      const r = await scrape(proxy.port, target, { headers: header, timeoutMs: 10_000 });
      const text = r.body.toString().trim();
      // The mechanism, not the stopwatch: the proxy gave the request the scrape timeout minus its margin
      // (2000 − 500 ms) and says so; the wall-clock bound only catches a proxy that waited for something else.
      c.check(
        r.status === 504 && withinDeadline(text, 1500) && r.elapsedMs <= 2000 + SLACK_MS,
        `frozen: ${r.status ?? r.error} after ${ms(r.elapsedMs)}`,
      );
      c.check(/ssh-connect|ssh-handshake|channel-open|upstream-response/.test(text), `body ${quote(text)}`);

      const dead = await poll(async () => (await proxy.metrics()).sum("sshscrape_ssh_up") === 0, 12_000, 200);
      c.check(
        dead === true,
        dead ? `ssh_up 0 after ${ms(performance.now() - frozenAt)}` : "ssh_up never went to 0 in 12 s",
      );
      const r2 = await scrape(proxy.port, target, { headers: header, timeoutMs: 10_000 });
      const text2 = r2.body.toString().trim();
      c.check(
        (r2.status === 502 || (r2.status === 504 && withinDeadline(text2, 1500))) &&
          r2.elapsedMs <= 2000 + SLACK_MS,
        `while still frozen: ${r2.status ?? r2.error} after ${ms(r2.elapsedMs)} ${quote(text2)}`,
      );

      Lab.signalAll(sshd, "SIGCONT");
      const contAt = performance.now();
      let attempts = 0;
      const back = await poll(
        async () => {
          attempts++;
          return (await scrape(proxy.port, target, { headers: header, timeoutMs: 5000 })).status === 200;
        },
        10_000,
        250,
      );
      c.check(
        back === true,
        back ? `200 again ${ms(performance.now() - contAt)} after SIGCONT` : "no 200 within 10 s of SIGCONT",
      );
      c.note(`${attempts} scrape(s) until recovery`);
    }),
};
