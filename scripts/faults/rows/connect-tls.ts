/** Row 19: a CONNECT tunnel whose TLS handshake fails must give its SSH channel back. */
import { Agent } from "node:http";
import { connect, createServer, type Server, type Socket } from "node:net";
import { scrape as tlsScrape } from "../../../src/check/fetch.js";
import { poll, type Row } from "../harness.js";
import { inLab } from "../lab.js";

/**
 * A plain-http exporter as it meets a TLS ClientHello: it answers 400 at once and closes a moment later (Go's
 * net/http does both), counting the TCP connections sshd forwards to it — an open one is a live SSH channel.
 */
async function plainHttpExporter(): Promise<{ server: Server; port: number; open: () => number }> {
  const sockets = new Set<Socket>();
  const server = createServer((sock) => {
    sockets.add(sock);
    sock.once("close", () => sockets.delete(sock));
    sock.on("error", () => sock.destroy());
    sock.once("data", () => {
      sock.write("HTTP/1.1 400 Bad Request\r\nContent-Type: text/plain\r\nConnection: close\r\n\r\n");
      setTimeout(() => sock.end("400 Bad Request"), 50);
    });
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  return { server, port: (server.address() as { port: number }).port, open: () => sockets.size };
}

/**
 * CONNECT, a TLS record header, and on the first byte back a hard hang-up: Prometheus' Go TLS client reads
 * five bytes, sees no TLS record and closes with the rest unread, so the kernel sends RST.
 */
function tunnelThenReset(proxyPort: number, target: string): Promise<string> {
  return new Promise((resolve) => {
    const s = connect(proxyPort, "127.0.0.1");
    let phase = "no answer";
    s.on("error", () => undefined);
    s.on("close", () => resolve(phase));
    s.write(`CONNECT ${target} HTTP/1.1\r\nHost: ${target}\r\n\r\n`);
    s.on("data", (d: Buffer) => {
      if (phase === "no answer") {
        phase = d.toString("latin1").split("\r\n")[0] ?? "?";
        if (!phase.startsWith("HTTP/1.1 200")) return void s.destroy();
        s.write(Buffer.from([0x16, 0x03, 0x01, 0x00, 0x05, 0x01, 0x00, 0x00, 0x01, 0x03]));
        return;
      }
      phase = "reset after the exporter's answer";
      s.resetAndDestroy();
    });
  });
}

export const connectTlsFails: Row = {
  id: 19,
  fault:
    "`scheme: https` to a plain-http exporter: 10 CONNECTs whose client hangs up hard (RST) on the non-TLS answer, 5 with node's TLS client",
  expected:
    "every tunnel is established and then fails; afterwards sshscrape_ssh_channels and /targets channels are back to 0 and the exporter holds no forwarded connection",
  budgetMs: 30_000,
  run: () =>
    inLab(async (lab, c) => {
      const sshd = await lab.sshd();
      const exp = await plainHttpExporter();
      lab.onClose(() => new Promise<void>((r) => exp.server.close(() => r())));
      lab.writeKnownHosts([sshd.knownHostsLine()]);
      const proxy = await lab.proxy({
        targets: [
          {
            host: "127.0.0.1",
            ssh: { port: sshd.port },
            exporters: [{ name: "e0", port: exp.port, scheme: "https" }],
          },
        ],
      });
      const target = `127.0.0.1:${exp.port}`;
      const resets = [];
      for (let i = 0; i < 10; i++) resets.push(await tunnelThenReset(proxy.port, target));
      const reset = resets.filter((r) => r === "reset after the exporter's answer").length;
      c.check(
        reset === 10,
        `hard hang-ups after the exporter's answer: ${reset}/10 (${[...new Set(resets)].join(", ")})`,
      );
      const agent = new Agent({ keepAlive: false });
      const tls = [];
      for (let i = 0; i < 5; i++)
        tls.push(
          await tlsScrape({ host: "127.0.0.1", port: proxy.port }, agent, {
            host: "127.0.0.1",
            port: exp.port,
            scheme: "https",
            path: "/metrics",
            timeoutMs: 10_000,
          }),
        );
      agent.destroy();
      const tlsFailed = tls.filter((o) => !o.ok && o.code === "TLS_FAILED").length;
      c.check(tlsFailed === 5, `node TLS client: ${tlsFailed}/5 TLS_FAILED`);
      const gaugeZero = await poll(
        async () => (await proxy.metrics()).sum("sshscrape_ssh_channels") === 0,
        5000,
        50,
      );
      c.check(
        gaugeZero === true,
        `sshscrape_ssh_channels afterwards: ${(await proxy.metrics()).sum("sshscrape_ssh_channels")}`,
      );
      const targets = await (await fetch(`http://127.0.0.1:${proxy.port}/targets`)).text();
      const channels = [...targets.matchAll(/"channels":\s*(\d+)/g)].reduce((s, m) => s + Number(m[1]), 0);
      c.check(channels === 0, `/targets channels afterwards: ${channels}`);
      const forwarded = await poll(() => exp.open() === 0, 5000, 50);
      c.check(forwarded === true, `connections sshd still holds to the exporter: ${exp.open()}`);
    }),
};
