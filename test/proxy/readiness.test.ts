/**
 * When /readyz gives up waiting for the preconnect (src/proxy/readiness.ts). A fleet whose handshakes are
 * limited by its sshds takes longer than a minute to connect while making steady progress; the proxy waits
 * for it rather than letting Prometheus start into a queue of handshakes (docs/benchmarks-scale.md). The clock
 * is the one the class is given, so these run in no time and cannot race.
 */
import { describe, expect, it } from "vitest";
import { READY_STALL_MS, Readiness, readyLimitMs } from "../../src/proxy/readiness.js";

function clock() {
  let t = 1_000_000;
  return { now: () => t, advance: (ms: number) => (t += ms) };
}

describe("Readiness", () => {
  it("is ready once every host was tried, counting failures", () => {
    const c = clock();
    const r = new Readiness(3, c.now);
    r.settle(true);
    r.settle(false);
    expect(r.ready).toBe(false);
    expect(r.describe()).toBe(
      "not ready: connecting to configured hosts (proxy.preconnect): 1 of 3 configured hosts connected, 1 failed, 1 still to try",
    );
    r.settle(true);
    expect(r.ready).toBe(true);
    expect(r.describe()).toBe("ready: 2 of 3 configured hosts connected, 1 failed");
  });

  it("keeps waiting past 60 s while hosts keep connecting, up to its limit for the fleet's size", () => {
    const c = clock();
    const total = 2000;
    const r = new Readiness(total, c.now);
    // 15 handshakes a second: 2 000 hosts take 133 s, all of it steady progress.
    let done = 0;
    while (done < 1500) {
      c.advance(1000);
      for (let i = 0; i < 15; i++, done++) r.settle(true);
      expect(r.ready, `after ${done} hosts`).toBe(false);
    }
    expect(readyLimitMs(total)).toBe(160_000);
    while (done < total) {
      c.advance(1000);
      for (let i = 0; i < 15 && done < total; i++, done++) r.settle(true);
    }
    expect(r.ready).toBe(true);
    expect(r.describe()).toBe("ready: 2000 of 2000 configured hosts connected, 0 failed");
  });

  it("gives up after 60 s once no host has settled for a while", () => {
    const c = clock();
    const r = new Readiness(10, c.now);
    r.settle(true);
    c.advance(59_000);
    expect(r.ready).toBe(false);
    c.advance(1_000);
    expect(r.ready).toBe(true);
    expect(r.describe()).toBe(
      `ready (after 60 s, no host connected or failed for ${READY_STALL_MS / 1000} s; still connecting in the background): 1 of 10 configured hosts connected, 0 failed`,
    );
    // Once ready, it stays ready: /readyz does not flap when the next host connects.
    r.settle(true);
    expect(r.ready).toBe(true);
  });

  it("does not give up at 60 s while the last host settled within the stall window", () => {
    const c = clock();
    const r = new Readiness(1000, c.now);
    c.advance(55_000);
    r.settle(true);
    c.advance(READY_STALL_MS - 1);
    expect(r.ready).toBe(false);
    c.advance(1);
    expect(r.ready).toBe(true);
  });

  it("gives up at its limit even while hosts still settle", () => {
    const c = clock();
    const r = new Readiness(400, c.now);
    for (let s = 0; s < readyLimitMs(400) / 1000 - 1; s++) {
      c.advance(1000);
      r.settle(false);
      expect(r.ready).toBe(false);
    }
    c.advance(1000);
    expect(r.ready).toBe(true);
    expect(r.describe()).toMatch(/^ready \(after 80 s; still connecting in the background\): 0 of 400/);
  });

  it("never waits longer than 4 minutes, below the 5 minutes after which SshscrapeProxyNotReady fires", () => {
    expect(readyLimitMs(3_000)).toBe(210_000);
    expect(readyLimitMs(100_000)).toBe(240_000);
  });
});
