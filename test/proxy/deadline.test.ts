/**
 * The request deadline in the phases before SSH is up: a TCP connect that never completes (a stalled
 * listener: the kernel drops the SYNs), and a scrape timeout shorter than the proxy's own margin.
 */
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { Deadline } from "../../src/proxy/deadline.js";
import { type RunningProxy, startProxy } from "../../src/proxy/index.js";
import { ed25519KeyPair } from "../helpers/ed25519.js";
import { memoryLogger, runtimeFor, viaProxy } from "../helpers/proxy.js";
import { type StalledListener, startStalledListener } from "../helpers/stalled-listener.js";

let stalled: StalledListener;
let proxy: RunningProxy;
const log = memoryLogger("info");
const CONNECT_TIMEOUT = 800;
const url = "http://127.0.0.1:9100/metrics";

/** "timed out in phase X after N ms: what" → [X, N, what] */
function timedOut(body: string): [string, number, string] {
  const m = /^timed out in phase ([\w-]+) after (\d+) ms: (.*)$/.exec(body.trim());
  if (!m) throw new Error(`not a timeout body: ${JSON.stringify(body)}`);
  return [m[1] as string, Number(m[2]), m[3] as string];
}

beforeAll(async () => {
  stalled = await startStalledListener();
  const dir = mkdtempSync(join(tmpdir(), "sshscrape-deadline-"));
  const clientKeyPath = join(dir, "client_key");
  writeFileSync(clientKeyPath, ed25519KeyPair().private, { mode: 0o600 });
  const rt = runtimeFor(
    { dir, user: "prom", port: stalled.port, clientKeyPath, knownHostsLine: () => "" },
    {
      exact: [{ host: "127.0.0.1", port: 9100 }],
      // No backoff between the cases: each must make its own connect attempt.
      timeouts: { request: 10_000, margin: 500, connect: CONNECT_TIMEOUT, backoff: 1 },
    },
  );
  proxy = await startProxy(rt, { logger: log.logger });
});

afterAll(async () => {
  await proxy?.close(100);
  await stalled?.close();
});

describe("deadline in the ssh-connect phase", () => {
  it("a TCP connect that never completes ends at connectTimeout, named as ssh-connect", async () => {
    const started = Date.now();
    const res = await viaProxy(proxy.url, url, { timeoutMs: 15_000 });
    expect(res.status).toBe(504);
    const [phase, ms, what] = timedOut(res.body.toString());
    expect(phase).toBe("ssh-connect");
    expect(ms).toBe(CONNECT_TIMEOUT);
    expect(what).toBe(`TCP connect to prom@127.0.0.1:${stalled.port}`);
    // Loose: only rules out waiting for the request timeout (10 s) or the kernel's SYN retries.
    expect(Date.now() - started).toBeLessThan(CONNECT_TIMEOUT + 4000);
  });

  it("a scrape timeout shorter than connectTimeout cuts the connect short, at scrape timeout − margin", async () => {
    await new Promise((r) => setTimeout(r, 5)); // past the 1 ms backoff of the previous failure
    const res = await viaProxy(proxy.url, url, {
      headers: { "x-prometheus-scrape-timeout-seconds": "1.1" },
      timeoutMs: 15_000,
    });
    expect(res.status).toBe(504);
    const [phase, ms] = timedOut(res.body.toString());
    expect(phase).toBe("ssh-connect");
    // 1100 − 500 ms margin = 600 ms, minus the little the request spent before the wait began.
    expect(ms).toBeLessThanOrEqual(600);
    expect(ms).toBeGreaterThan(0);
  });

  it("a scrape timeout smaller than the margin still gets the minimum budget (50 ms), not zero or a negative one", async () => {
    await new Promise((r) => setTimeout(r, 5));
    const res = await viaProxy(proxy.url, url, {
      headers: { "x-prometheus-scrape-timeout-seconds": "0.2" },
      timeoutMs: 15_000,
    });
    expect(res.status).toBe(504);
    const [phase, ms] = timedOut(res.body.toString());
    expect(phase).toBe("ssh-connect");
    expect(ms).toBeLessThanOrEqual(50);
    expect(ms).toBeGreaterThan(0);
  });
});

describe("Deadline.forRequest", () => {
  it("takes the header minus the margin, never below 50 ms, never above proxy.timeout", () => {
    expect(Deadline.forRequest("0.2", 500, 10_000).budgetMs).toBe(50);
    expect(Deadline.forRequest("0.5", 500, 10_000).budgetMs).toBe(50);
    expect(Deadline.forRequest("0.6", 500, 10_000).budgetMs).toBe(100);
    expect(Deadline.forRequest(" 1.5 ", 500, 10_000).budgetMs).toBe(1_000);
    expect(Deadline.forRequest(["2", "9"], 500, 10_000).budgetMs).toBe(1_500);
    expect(Deadline.forRequest("0", 500, 10_000).budgetMs).toBe(10_000);
    expect(Deadline.forRequest("-3", 500, 10_000).budgetMs).toBe(10_000);
  });
});
