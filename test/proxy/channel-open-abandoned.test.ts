/**
 * A channel that opens after its request gave up (the client left while sshd was still connecting to the
 * exporter) is closed and counted as closed: ssh2 emits a direct-tcpip channel's 'close' only once its
 * readable side has ended, which a channel nobody reads never reaches, so `ch.close()` alone left it counted
 * in `sshscrape_ssh_channels` and in its SSH connection's channels for the life of the process (the
 * connection then never closes by `proxy.idleTimeout`). Real sshd; the exporter is a listener whose accept
 * queue is full, so sshd's connect hangs until the test lets it run.
 */
import { execFileSync } from "node:child_process";
import type { Socket } from "node:net";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type RunningProxy, startProxy } from "../../src/proxy/index.js";
import { waitFor } from "../helpers/processes.js";
import { metricValue, runtimeFor } from "../helpers/proxy.js";
import { RawClient } from "../helpers/raw-http.js";
import { type Sshd, startSshd } from "../helpers/sshd.js";
import { type StalledListener, startStalledListener } from "../helpers/stalled-listener.js";

let sshd: Sshd;
let listeners: StalledListener[] = [];
let proxy: RunningProxy;

beforeAll(async () => {
  listeners = [await startStalledListener(), await startStalledListener()];
  sshd = await startSshd({ permitOpen: listeners.map((l) => l.port) });
  proxy = await startProxy(
    runtimeFor(sshd, {
      exact: listeners.map((l) => ({ host: "127.0.0.1", port: l.port })),
      timeouts: { request: 120_000, channelOpen: 120_000 },
    }),
  );
});

afterAll(async () => {
  await proxy?.close(100);
  for (const l of listeners) await l.close();
  await sshd?.stop();
});

const channels = async () =>
  metricValue(await fetch(`${proxy.url}/metrics`).then((r) => r.text()), "sshscrape_ssh_channels");

/** Whether sshd has a connect to `port` in progress (its SYN dropped by the full accept queue). */
const connecting = (port: number) =>
  execFileSync("ss", ["-Htn", "state", "syn-sent", `( dport = :${port} )`], { encoding: "utf8" }).trim() !==
  "";

describe("a channel that opens after its client left", () => {
  const requests: Array<[string, (port: number) => string]> = [
    ["GET", (port) => `GET http://127.0.0.1:${port}/metrics HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\n\r\n`],
    ["CONNECT", (port) => `CONNECT 127.0.0.1:${port} HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\n\r\n`],
  ];
  it.each(requests.map(([name, make], i) => [name, make, i] as const))(
    "%s: is closed and no longer counted",
    async (_name, make, i) => {
      const stalled = listeners[i] as StalledListener;
      const c = await RawClient.open(Number(new URL(proxy.url).port));
      await c.write(make(stalled.port));
      await waitFor("sshd to start connecting to the exporter", () => connecting(stalled.port));
      // A reset: the client is gone on every path (test/proxy/client-gone.test.ts).
      (c as unknown as { socket: Socket }).socket.resetAndDestroy();
      await waitFor("the request to end", async () => {
        const text = await fetch(`${proxy.url}/metrics`).then((r) => r.text());
        return metricValue(text, "sshscrape_errors_total", { type: "CLIENT_DISCONNECTED" }) === i + 1;
      });
      stalled.resume();
      await waitFor("sshd's connect to the exporter to complete", () => stalled.accepted() > stalled.queued);
      // sshd closes the exporter's connection on the proxy's CHANNEL_CLOSE, which the proxy sends once the
      // channel opened (and was counted): from here the count must fall back to 0.
      await waitFor("the proxy to close the channel", () => stalled.closed() >= 1);
      await waitFor("the channel to be closed and uncounted", async () => (await channels()) === 0, 15_000);
      expect(await channels()).toBe(0);
    },
  );
});
