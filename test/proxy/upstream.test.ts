/** Keep-alive channels to exporters (src/proxy/upstream.ts) against real OpenSSH sshd. */
import type { Socket } from "node:net";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type RunningProxy, startProxy } from "../../src/proxy/index.js";
import { type Exporter, startExporter } from "../helpers/exporter.js";
import { memoryLogger, metricValue, runtimeFor, viaProxy } from "../helpers/proxy.js";
import { type Sshd, startSshd } from "../helpers/sshd.js";

let sshd: Sshd;
let steady: Exporter;
let flaky: Exporter;
let proxy: RunningProxy;
/** sshd's end of each exporter connection a request arrived on. */
const steadyPorts: number[] = [];
const flakySockets = new Set<Socket>();

beforeAll(async () => {
  steady = await startExporter({
    handler: (req, res) => {
      steadyPorts.push(req.socket.remotePort ?? 0);
      res.writeHead(200, { "content-type": "text/plain", "content-length": 5 }).end("up 1\n");
    },
  });
  // Closes a keep-alive connection when a second request arrives on it, as an exporter whose idle timeout
  // fired just as the proxy reused the channel would look from the proxy.
  flaky = await startExporter({
    handler: (req, res) => {
      if (flakySockets.has(req.socket)) {
        req.socket.destroy();
        return;
      }
      flakySockets.add(req.socket);
      res.writeHead(200, { "content-type": "text/plain", "content-length": 5 }).end("up 1\n");
    },
  });
  // The generator's key line for these two exporters.
  sshd = await startSshd({ permitOpen: [steady.port, flaky.port] });
  const exact = [steady, flaky].map((e) => ({ host: "127.0.0.1", port: e.port }));
  // POST is forwarded only to exporters that opt in (extraMethods); the flaky one does.
  const extraMethods = new Map([[`127.0.0.1:${flaky.port}`, new Set(["POST"])]]);
  proxy = await startProxy(runtimeFor(sshd, { exact, overrides: { extraMethods } }), {
    logger: memoryLogger("info").logger,
  });
});

afterAll(async () => {
  await proxy?.close(100);
  await steady?.close();
  await flaky?.close();
  await sshd?.stop();
});

describe("keep-alive channels to exporters", () => {
  it("carries the next request to the same exporter over the idle channel", async () => {
    steadyPorts.length = 0;
    for (let i = 0; i < 3; i++) expect((await viaProxy(proxy.url, steady.url)).status).toBe(200);
    expect(steadyPorts).toHaveLength(3);
    expect(new Set(steadyPorts).size).toBe(1);
  });

  it("sends a GET once more on a fresh channel when the exporter closed the reused one", async () => {
    const first = await viaProxy(proxy.url, flaky.url);
    const second = await viaProxy(proxy.url, flaky.url);
    expect([first.status, second.status]).toEqual([200, 200]);
    expect(second.body.toString()).toBe("up 1\n");
    expect(flakySockets.size).toBe(2);
  });

  it("does not send a POST twice: it fails with 502 instead", async () => {
    expect((await viaProxy(proxy.url, flaky.url)).status).toBe(200);
    const before = flakySockets.size;
    const res = await viaProxy(proxy.url, flaky.url, { method: "POST", body: "x=1" });
    expect(res.status).toBe(502);
    expect(res.headers["x-sshscrape-error"]).toBe("UPSTREAM_FAILED");
    expect(flakySockets.size).toBe(before);
  });

  it("keeps no more channels open than requests were in flight at once", async () => {
    const results = await Promise.all(Array.from({ length: 8 }, () => viaProxy(proxy.url, steady.url)));
    expect(results.every((r) => r.status === 200)).toBe(true);
    await Promise.all(Array.from({ length: 8 }, () => viaProxy(proxy.url, steady.url)));
    const text = await fetch(`${proxy.url}/metrics`).then((r) => r.text());
    expect(metricValue(text, "sshscrape_ssh_channels")).toBeLessThanOrEqual(8 + 2);
  });
});
