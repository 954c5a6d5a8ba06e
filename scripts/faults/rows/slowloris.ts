/** Row 7: clients that trickle their request headers forever must not hold the proxy hostage. */
import { raw, scrape } from "../client.js";
import { histogram, ms, type Row, sleep } from "../harness.js";
import { inLab, Lab } from "../lab.js";

const LORIS = 50;
/** Connections that never send a byte, as Go's http.Transport leaves spare dialed connections. */
const SILENT = 10;
/** Cap on how long we keep trickling; a proxy that has not cut us off by then fails the row. */
const LIMIT_MS = 30_000;

export const slowloris: Row = {
  id: 7,
  fault: `slowloris: ${LORIS} clients send one header byte per second, never finishing the headers`,
  expected: `the proxy closes each of them by itself (a 408 first is fine, a 2xx/5xx is not) within ${LIMIT_MS / 1000} s; scrapes meanwhile all 200 with p99 < 1 s; ${SILENT} connections that send nothing are closed too, without an answer and not counted as client errors`,
  budgetMs: LIMIT_MS + 20_000,
  run: () =>
    inLab(async (lab, c) => {
      const sshd = await lab.sshd();
      const exp = await lab.exporter();
      lab.writeKnownHosts([sshd.knownHostsLine()]);
      const proxy = await lab.proxy({ targets: [Lab.target(sshd, [exp.port])] });
      const target = `127.0.0.1:${exp.port}`;
      const start = `GET http://${target}/metrics HTTP/1.1\r\nHost: ${target}\r\nX-Slow: `;
      const trickle: Array<[string, number]> = [[start, 1000]];
      for (let i = 0; i < LIMIT_MS / 1000 + 5; i++) trickle.push(["a", 1000]);
      const loris = Array.from({ length: LORIS }, () =>
        raw(proxy.port, "", { pieces: trickle, timeoutMs: LIMIT_MS, untilClose: true }),
      );
      const silent = Array.from({ length: SILENT }, () =>
        raw(proxy.port, "", { timeoutMs: LIMIT_MS, untilClose: true }),
      );

      let stop = false;
      const normal: Array<{ status?: number; elapsedMs: number; error?: string }> = [];
      const background = (async () => {
        while (!stop) {
          normal.push(await scrape(proxy.port, target, { timeoutMs: 5000 }));
          await sleep(200);
        }
      })();
      const results = await Promise.all(loris);
      const quiet = await Promise.all(silent);
      stop = true;
      await background;

      const cut = results.filter(
        (r) => r.closed && !r.timedOut && (r.status === undefined || r.status === 408),
      );
      const slowest = Math.max(...cut.map((r) => r.elapsedMs));
      c.check(
        cut.length === LORIS,
        `${cut.length}/${LORIS} closed by the proxy${cut.length ? ` after ${ms(Math.min(...cut.map((r) => r.elapsedMs)))}–${ms(slowest)}` : ""}; answers: ${histogram(results.map((r) => r.status ?? (r.timedOut ? "still open" : "none")))}`,
      );
      const quietClosed = quiet.filter((r) => r.closed && !r.timedOut && r.status === undefined).length;
      const counted = (await proxy.metrics()).sum("sshscrape_errors_total", {
        type: "REQUEST_HEADERS_TIMEOUT",
      });
      c.check(
        quietClosed === SILENT && counted === LORIS,
        `${quietClosed}/${SILENT} silent connections closed without an answer; REQUEST_HEADERS_TIMEOUT counted ${counted} (the ${LORIS} trickling clients)`,
      );
      const lat = normal.map((n) => n.elapsedMs).sort((a, b) => a - b);
      const p99 = lat[Math.floor(lat.length * 0.99)] ?? Number.NaN;
      c.check(
        normal.length > 0 && normal.every((n) => n.status === 200) && p99 < 1000,
        `${normal.length} scrapes meanwhile: ${histogram(normal.map((n) => n.status ?? n.error ?? "?"))}, p99 ${ms(p99)}`,
      );
    }),
};
