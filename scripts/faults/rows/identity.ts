/** Rows 3–4: the server is not who known_hosts says, or it no longer accepts our key. */
import { scrape } from "../client.js";
import { histogram, ms, poll, quote, type Row } from "../harness.js";
import { countLog, inLab, Lab } from "../lab.js";

export const hostKeyReplaced: Row = {
  id: 3,
  fault: "host key replaced (new key, sshd restarted, known_hosts unchanged)",
  expected:
    '502 "host key mismatch"; an error-level log line; sshscrape_errors_total{type="HOST_KEY_MISMATCH"} > 0; the exporter receives no request',
  budgetMs: 30_000,
  run: () =>
    inLab(async (lab, c) => {
      const sshd = await lab.sshd();
      const exp = await lab.exporter();
      lab.writeKnownHosts([sshd.knownHostsLine()]);
      const proxy = await lab.proxy({ proxy: { backoff: "1s" }, targets: [Lab.target(sshd, [exp.port])] });
      const target = `127.0.0.1:${exp.port}`;
      const warm = await scrape(proxy.port, target);
      c.check(warm.status === 200, `warm-up ${warm.status ?? warm.error}`);
      const seen = exp.requests.length;

      sshd.replaceHostKey();
      Lab.killSessions(sshd);
      await sshd.restart();
      const replies = [];
      for (let i = 0; i < 5; i++) {
        replies.push(await scrape(proxy.port, target, { timeoutMs: 15_000 }));
        // Past the backoff window, so every reply comes from a fresh handshake, not the cached cause.
        if (i === 2) await new Promise((r) => setTimeout(r, 1200));
      }
      const texts = replies.map((r) => r.body.toString().trim());
      const mismatch = replies.filter(
        (r, i) => r.status === 502 && /host key mismatch/i.test(texts[i] ?? ""),
      ).length;
      c.check(
        mismatch === 5,
        `5 scrapes: ${histogram(replies.map((r) => r.status ?? r.error ?? "?"))}, ${mismatch} say "host key mismatch"`,
      );
      c.note(`body ${quote(texts[0] ?? "")}`);
      const errorLines = () =>
        proxy.logLines().filter((l) => (l.level ?? 0) >= 50 && /host key mismatch/i.test(JSON.stringify(l)));
      const errors = (await poll(() => (errorLines().length > 0 ? errorLines() : undefined), 3000)) ?? [];
      c.check(errors.length > 0, `${errors.length} error-level log line(s) mentioning the mismatch`);
      const m = await proxy.metrics();
      const metric = m.sum("sshscrape_errors_total", { type: "HOST_KEY_MISMATCH" });
      c.check(metric > 0, `errors_total{type="HOST_KEY_MISMATCH"} = ${metric}`);
      c.note(`handshakes failure = ${m.sum("sshscrape_ssh_handshakes_total", { result: "failure" })}`);
      const leaked = exp.requests.length - seen;
      c.check(leaked === 0, `exporter received ${leaked} request(s) after the key change`);
    }),
};

export const clientKeyRemoved: Row = {
  id: 4,
  fault: "client key removed from authorized_keys",
  expected:
    "502 naming user@host and the authentication failure; 30 scrapes in 1.5 s cause ≤ 1 SSH connection attempt (backoff 2 s) and fail fast; key restored → 200 after the backoff",
  budgetMs: 30_000,
  run: () =>
    inLab(async (lab, c) => {
      const sshd = await lab.sshd();
      const exp = await lab.exporter();
      lab.writeKnownHosts([sshd.knownHostsLine()]);
      sshd.setAuthorizedKeys("");
      const proxy = await lab.proxy({ proxy: { backoff: "2s" }, targets: [Lab.target(sshd, [exp.port])] });
      const target = `127.0.0.1:${exp.port}`;
      // Counted from here: only the proxy's connections after this point matter.
      const baseline = countLog(sshd, /Connection from/);
      const first = await scrape(proxy.port, target, { timeoutMs: 15_000 });
      const text = first.body.toString().trim();
      const who = `${lab.user}@127.0.0.1`;
      c.check(
        first.status === 502 && text.includes(who) && /auth/i.test(text),
        `first: ${first.status ?? first.error} ${quote(text)}`,
      );
      const t0 = performance.now();
      const storm = [];
      while (performance.now() - t0 < 1500) {
        storm.push(await scrape(proxy.port, target, { timeoutMs: 5000 }));
        await new Promise((r) => setTimeout(r, 50));
      }
      const slowest = Math.max(...storm.map((r) => r.elapsedMs));
      // Answered from the backoff (the body says so), not by a new SSH attempt; the time is context only.
      const fromBackoff = storm.filter(
        (r) => r.status === 502 && /failed recently, next attempt in/.test(r.body.toString()),
      ).length;
      c.check(
        fromBackoff === storm.length,
        `${storm.length} more: ${histogram(storm.map((r) => r.status ?? r.error ?? "?"))}, ${fromBackoff} answered from the backoff, slowest ${ms(slowest)}`,
      );
      const attempts = countLog(sshd, /Connection from/) - baseline;
      c.check(attempts <= 1, `sshd saw ${attempts} connection attempt(s) from the proxy`);
      const m = await proxy.metrics();
      c.note(`handshakes failure = ${m.sum("sshscrape_ssh_handshakes_total", { result: "failure" })}`);
      c.check(exp.requests.length === 0, `exporter received ${exp.requests.length} request(s)`);

      sshd.setAuthorizedKeys(`${sshd.clientKeyPub}\n`);
      const restored = performance.now();
      const back = await poll(
        async () => (await scrape(proxy.port, target, { timeoutMs: 5000 })).status === 200,
        8000,
        250,
      );
      c.check(
        back === true,
        back
          ? `key restored: 200 after ${ms(performance.now() - restored)}`
          : "key restored: no 200 within 8 s",
      );
    }),
};
