/** Rows 5, 6, 10: what happens on one direct-tcpip channel must stay on that channel. */
import type { IncomingMessage, ServerResponse } from "node:http";
import { metricsBody } from "../../../test/helpers/exporter.js";
import { closedPort } from "../../../test/helpers/ports.js";
import { scrape } from "../client.js";
import { histogram, ms, poll, quote, type Row } from "../harness.js";
import { inLab, Lab } from "../lab.js";

export const exporterDown: Row = {
  id: 5,
  fault: "exporter down on the target (remote port closed)",
  expected:
    "502 naming the refused remote port; the same SSH connection keeps serving the live exporter (1 handshake, 1 connection)",
  budgetMs: 20_000,
  run: () =>
    inLab(async (lab, c) => {
      const sshd = await lab.sshd();
      const exp = await lab.exporter();
      const deadPort = await closedPort();
      lab.writeKnownHosts([sshd.knownHostsLine()]);
      const proxy = await lab.proxy({ targets: [Lab.target(sshd, [exp.port, deadPort])] });
      const live = `127.0.0.1:${exp.port}`;
      const warm = await scrape(proxy.port, live);
      c.check(warm.status === 200, `live warm-up ${warm.status ?? warm.error}`);
      const down = [];
      for (let i = 0; i < 3; i++)
        down.push(await scrape(proxy.port, `127.0.0.1:${deadPort}`, { timeoutMs: 10_000 }));
      const text = down[0]?.body.toString().trim() ?? "";
      const named = down.filter(
        (r) => r.status === 502 && r.body.toString().includes(String(deadPort)),
      ).length;
      c.check(
        named === 3 && /refused/i.test(text),
        `dead port ×3: ${histogram(down.map((r) => r.status ?? r.error ?? "?"))}, body ${quote(text)}`,
      );
      const after = await Promise.all(Array.from({ length: 10 }, () => scrape(proxy.port, live)));
      const good = after.filter((r) => r.status === 200 && r.body.equals(exp.body)).length;
      c.check(good === 10, `live port afterwards: ${good}/10 200 with intact body`);
      const m = await proxy.metrics();
      const hs = m.sum("sshscrape_ssh_handshakes_total");
      const conns = m.sum("sshscrape_ssh_connections");
      c.check(hs === 1 && conns === 1, `handshakes ${hs}, open connections ${conns}`);
    }),
};

export const clientAbort: Row = {
  id: 6,
  fault: "10 clients disconnect mid-body (exporter streams an endless body)",
  expected:
    "each channel closes: the exporter sees its response closed; sshscrape_ssh_channels goes from 10 back to 0",
  budgetMs: 30_000,
  run: () =>
    inLab(async (lab, c) => {
      const sshd = await lab.sshd();
      const chunk = metricsBody(16_384);
      let streaming = 0;
      let closedEarly = 0;
      const exp = await lab.exporter({
        handler: (_req: IncomingMessage, res: ServerResponse) => {
          streaming++;
          res.writeHead(200, { "content-type": "text/plain" });
          const timer = setInterval(() => res.write(chunk), 20);
          const stop = setTimeout(() => {
            clearInterval(timer);
            res.end();
          }, 25_000);
          res.on("close", () => {
            clearInterval(timer);
            clearTimeout(stop);
            if (!res.writableFinished) closedEarly++;
          });
        },
      });
      lab.writeKnownHosts([sshd.knownHostsLine()]);
      const proxy = await lab.proxy({ targets: [Lab.target(sshd, [exp.port])] });
      const target = `127.0.0.1:${exp.port}`;
      const destroyers: Array<() => void> = [];
      const replies = Array.from({ length: 10 }, () =>
        scrape(proxy.port, target, {
          timeoutMs: 20_000,
          onResponse: (destroy, received) => {
            const wait = setInterval(() => {
              if (received() >= 64 * 1024) {
                clearInterval(wait);
                destroyers.push(destroy);
              }
            }, 10);
          },
        }),
      );
      const allMid = await poll(() => destroyers.length === 10, 10_000, 20);
      c.check(allMid === true, `${destroyers.length}/10 clients mid-body (≥ 64 KiB received)`);
      const during = (await proxy.metrics()).sum("sshscrape_ssh_channels");
      c.check(during === 10, `channels gauge while streaming: ${during}`);
      const cut = performance.now();
      for (const d of destroyers) d();
      await Promise.all(replies);
      const zero = await poll(
        async () => (await proxy.metrics()).sum("sshscrape_ssh_channels") === 0,
        5000,
        50,
      );
      c.check(
        zero === true,
        zero ? `channels gauge 0 after ${ms(performance.now() - cut)}` : "channels gauge not 0 within 5 s",
      );
      const closed = await poll(() => closedEarly === 10, 5000, 50);
      c.check(closed === true, `exporter saw ${closedEarly}/${streaming} responses closed before their end`);
      const again = await scrape(proxy.port, target, { timeoutMs: 10_000, onResponse: (d) => d() });
      c.check(again.status === 200, `a new scrape afterwards: ${again.status ?? again.error}`);
    }),
};

export const maxResponseBytes: Row = {
  id: 10,
  fault: "response over maxResponseBytes (100 000): 300 kB with Content-Length, 300 kB chunked",
  expected:
    "Content-Length over the limit → 502; chunked over the limit → 502 or an aborted (incomplete) transfer carrying at most the limit; never a complete-looking truncated body; 50 kB → 200 intact",
  budgetMs: 20_000,
  run: () =>
    inLab(async (lab, c) => {
      const sshd = await lab.sshd();
      const small = metricsBody(50_000);
      const big = metricsBody(300_000);
      const exp = await lab.exporter({
        handler: (req: IncomingMessage, res: ServerResponse) => {
          if (req.url === "/metrics?body=chunked") {
            res.writeHead(200, { "content-type": "text/plain" });
            for (let i = 0; i < big.length; i += 16_384) res.write(big.subarray(i, i + 16_384));
            res.end();
            return;
          }
          const body = req.url === "/metrics?body=big" ? big : small;
          res.writeHead(200, { "content-type": "text/plain", "content-length": body.length });
          res.end(body);
        },
      });
      lab.writeKnownHosts([sshd.knownHostsLine()]);
      const proxy = await lab.proxy({
        proxy: { maxResponseBytes: 100_000 },
        targets: [Lab.target(sshd, [exp.port])],
      });
      const target = `127.0.0.1:${exp.port}`;
      const ok = await scrape(proxy.port, target, { path: "/metrics?body=small" });
      c.check(
        ok.status === 200 && ok.body.equals(small),
        `50 kB: ${ok.status ?? ok.error}, ${ok.body.length} bytes`,
      );
      const cl = await scrape(proxy.port, target, { path: "/metrics?body=big", timeoutMs: 10_000 });
      c.check(
        cl.status === 502,
        `300 kB with Content-Length: ${cl.status ?? cl.error}, ${cl.body.length} bytes ${quote(cl.body)}`,
      );
      const ch = await scrape(proxy.port, target, { path: "/metrics?body=chunked", timeoutMs: 10_000 });
      const aborted = ch.status === 200 && !ch.complete;
      c.check(
        ch.status === 502 || (aborted && ch.body.length <= 100_000),
        `300 kB chunked: ${ch.status ?? "-"}${ch.error ? ` (${ch.error})` : ""}, ${ch.body.length} bytes, ${ch.complete ? "complete" : "incomplete"}`,
      );
      const after = await scrape(proxy.port, target, { path: "/metrics?body=small" });
      c.check(
        after.status === 200 && after.body.equals(small),
        `50 kB afterwards: ${after.status ?? after.error}`,
      );
    }),
};
