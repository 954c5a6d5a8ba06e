/**
 * Row 17: request smuggling into pooled exporter channels. Each probe hides a request in the body of
 * another; an exporter logs every request its parser sees, and a scrape right after each probe reuses the
 * idle channel.
 */
import {
  answerFor,
  chunked,
  type LoggingExporter,
  SLOW_MS,
  SMUGGLED,
  SMUGGLING_PROBES,
  startLoggingExporter,
} from "../../../test/helpers/logging-exporter.js";
import { raw, scrape } from "../client.js";
import { type Row, sleep } from "../harness.js";
import { inLab } from "../lab.js";

export const smuggling: Row = {
  id: 17,
  fault: `request smuggling: a second request hidden in the body of the first (${SMUGGLING_PROBES.map((p) => p.name).join("; ")}), then an ordinary scrape on the same pooled channel`,
  expected:
    "each probe 400 or 405; the exporter's parser sees only the scrapes (never the hidden request); every scrape gets the answer to its own path; an exporter that opts in to POST (extraMethods) gets the body as the body of one POST",
  budgetMs: 60_000,
  run: () =>
    inLab(async (lab, c) => {
      const sshd = await lab.sshd();
      const plain = await startLoggingExporter();
      const writable = await startLoggingExporter();
      lab.onClose(() => plain.close());
      lab.onClose(() => writable.close());
      lab.writeKnownHosts([sshd.knownHostsLine()]);
      const proxy = await lab.proxy({
        targets: [
          {
            host: "127.0.0.1",
            ssh: { port: sshd.port },
            exporters: [
              { name: "plain", port: plain.port },
              { name: "writable", port: writable.port, extraMethods: ["POST"] },
            ],
          },
        ],
      });
      const scrapeOwn = async (e: LoggingExporter, path: string) => {
        const r = await scrape(proxy.port, `127.0.0.1:${e.port}`, { path, timeoutMs: 5000 });
        return r.status === 200 && r.body.toString() === answerFor("GET", path);
      };
      const wrong: string[] = [];
      c.details.push("| probe | status | exporter saw | next scrape | result |", "|---|---|---|---|---|");
      for (const probe of SMUGGLING_PROBES) {
        // A listed exporter answers only its metricsPath (PATH_NOT_ALLOWED otherwise): the query tells scrapes apart.
        const warm = await scrapeOwn(plain, "/metrics?warm");
        plain.seen.length = 0;
        const r = await raw(proxy.port, probe.bytes(`127.0.0.1:${plain.port}`), { timeoutMs: 5000 });
        const next = await scrapeOwn(plain, "/metrics?next");
        await sleep(SLOW_MS + 100);
        const saw = plain.seen.map((s) => `${s.method} ${s.path}`);
        const ok =
          warm && (r.status === 400 || r.status === 405) && next && saw.join() === "GET /metrics?next";
        if (!ok) wrong.push(probe.name);
        c.details.push(
          `| ${probe.name} | ${r.status ?? (r.timedOut ? "hang" : "closed")} | ${saw.join(", ") || "nothing"} | ${next ? "own answer" : "**wrong answer**"} | ${ok ? "PASS" : "**FAIL**"} |`,
        );
      }
      c.check(
        wrong.length === 0,
        `${SMUGGLING_PROBES.length} probes refused, exporter saw only the scrapes, each scrape got its own answer${wrong.length ? `; wrong: ${wrong.join(", ")}` : ""}`,
      );
      // The opt-in path: the same hidden request, sent as a chunked POST body, stays a body.
      await scrapeOwn(writable, "/warm");
      writable.seen.length = 0;
      const t = `127.0.0.1:${writable.port}`;
      const post = await raw(
        proxy.port,
        `POST http://${t}/push HTTP/1.1\r\nHost: ${t}\r\nTransfer-Encoding: chunked\r\n\r\n${chunked(SMUGGLED)}`,
        { timeoutMs: 5000 },
      );
      const next = await scrapeOwn(writable, "/next");
      await sleep(SLOW_MS + 100);
      const saw = writable.seen.map(
        (s) => `${s.method} ${s.path}${s.body ? ` (${s.body.length} B body)` : ""}`,
      );
      c.check(
        post.status === 200 && next && saw.join(", ") === `POST /push (${SMUGGLED.length} B body), GET /next`,
        `opted-in chunked POST: ${post.status ?? post.error}, exporter saw ${saw.join(", ")}, next scrape ${next ? "own answer" : "wrong answer"}`,
      );
    }),
};
