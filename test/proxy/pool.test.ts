/** The SSH pool's behaviour against a real OpenSSH sshd: sharing, idling, reconnecting, bastions, queueing. */
import { execFileSync } from "node:child_process";
import { createServer, type Socket } from "node:net";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startProxy } from "../../src/proxy/index.js";
import { Semaphore } from "../../src/proxy/semaphore.js";
import { type Exporter, startExporter } from "../helpers/exporter.js";
import { waitFor } from "../helpers/processes.js";
import { memoryLogger, metricValue, runtimeFor, sshdLogins, viaProxy } from "../helpers/proxy.js";
import { type Sshd, startSshd } from "../helpers/sshd.js";

const HOSTS = ["127.0.0.1", "127.0.0.2", "127.0.0.3", "127.0.0.4", "127.0.0.5", "127.0.0.6"];
let sshd: Sshd;
let exporter: Exporter;
const log = memoryLogger("info");

beforeAll(async () => {
  exporter = await startExporter({ body: "up 1\n" });
  // The generator's key line: forwarding to this exporter only.
  sshd = await startSshd({ addresses: HOSTS, permitOpen: [exporter.port] });
});

afterAll(async () => {
  await exporter?.close();
  await sshd?.stop();
});

const everyHost = () => HOSTS.map((host) => ({ host, port: exporter.port }));
const url = (host: string) => `http://${host}:${exporter.port}/metrics`;

describe("metrics listener (--metrics.listen-addr)", () => {
  it("serves only /metrics, with the proxy's own series", async () => {
    const p = await startProxy(
      runtimeFor(sshd, { exact: everyHost(), overrides: { metricsListen: { host: "127.0.0.1", port: 0 } } }),
      { logger: log.logger },
    );
    try {
      expect(p.metricsUrl).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/metrics$/);
      const res = await fetch(p.metricsUrl as string);
      expect(res.status).toBe(200);
      expect(await res.text()).toContain("sshscrape_ssh_connections");
      expect((await fetch(new URL("/targets", p.metricsUrl))).status).toBe(404);
    } finally {
      await p.close();
    }
  });
});

describe("SSH pool", () => {
  it("with preconnect, logs in to every configured host at start, before any request", async () => {
    const before = sshdLogins(sshd);
    const hosts = HOSTS.slice(0, 4);
    const p = await startProxy(
      runtimeFor(sshd, {
        exact: hosts.map((host) => ({ host, port: exporter.port })),
        overrides: { preconnect: true },
      }),
      { logger: log.logger },
    );
    try {
      await waitFor("4 preconnected SSH connections", async () => {
        const text = await fetch(`${p.url}/metrics`).then((r) => r.text());
        return metricValue(text, "sshscrape_ssh_connections") === 4;
      });
      expect(sshdLogins(sshd)).toBe(before + 4);
      // The first scrape uses the connection that is already there.
      expect((await viaProxy(p.url, url("127.0.0.3"))).status).toBe(200);
      const text = await fetch(`${p.url}/metrics`).then((r) => r.text());
      expect(metricValue(text, "sshscrape_ssh_handshakes_total", { result: "success" })).toBe(4);
    } finally {
      await p.close();
    }
  });

  it("with preconnect, answers /readyz 503 until every configured host was tried, then 200", async () => {
    // 127.0.0.7 accepts TCP and never says a word: its handshake hangs until handshakeTimeout.
    const silent = new Set<Socket>();
    const mute = createServer((sock) => silent.add(sock));
    await new Promise<void>((r) => mute.listen(0, "127.0.0.7", r));
    const mutePort = (mute.address() as { port: number }).port;
    const hosts = [...HOSTS.slice(0, 3), "127.0.0.7"];
    const p = await startProxy(
      runtimeFor(sshd, {
        exact: hosts.map((host) => ({ host, port: exporter.port })),
        timeouts: { handshake: 1_500 },
        overrides: { preconnect: true, hosts: new Map([["127.0.0.7", { port: mutePort }]]) },
      }),
      { logger: log.logger },
    );
    try {
      const early = await fetch(`${p.url}/readyz`);
      expect(early.status).toBe(503);
      expect(await early.text()).toMatch(/^not ready: connecting to configured hosts .*still to try\n$/);
      await waitFor("/readyz 200", async () => (await fetch(`${p.url}/readyz`)).status === 200, 5_000);
      expect(await (await fetch(`${p.url}/readyz`)).text()).toBe(
        "ready: 3 of 4 configured hosts connected, 1 failed\n",
      );
    } finally {
      await p.close(100);
      for (const sock of silent) sock.destroy();
      mute.close();
    }
  });

  it("is ready at once without preconnect", async () => {
    const p = await startProxy(runtimeFor(sshd, { exact: everyHost() }), { logger: log.logger });
    try {
      const res = await fetch(`${p.url}/readyz`);
      expect(res.status).toBe(200);
      expect(await res.text()).toBe("ready\n");
    } finally {
      await p.close(100);
    }
  });

  it("lets a scrape's handshake go ahead of hosts still queued for preconnect", async () => {
    // One handshake at a time and six hosts to preconnect: a scrape for the last host would be sixth in a
    // FIFO queue. It goes next instead, so when it is answered at most the one handshake that was already
    // running (and perhaps the one after it) have completed besides its own.
    // The order of "SSH connection established" (debug) is the mechanism: no snapshot of a gauge that
    // keeps moving while the test reads it.
    const order = memoryLogger("debug");
    const p = await startProxy(
      runtimeFor(sshd, { exact: everyHost(), overrides: { preconnect: true, maxHandshakes: 1 } }),
      { logger: order.logger },
    );
    try {
      const last = HOSTS[HOSTS.length - 1] as string;
      expect((await viaProxy(p.url, url(last))).status).toBe(200);
      await waitFor("all six preconnected", async () => (await fetch(`${p.url}/readyz`)).status === 200);
      const established = order.records
        .filter((r) => r.msg === "SSH connection established")
        .map((r) => String(r.host));
      expect(established).toHaveLength(HOSTS.length);
      // FIFO would make it sixth; it is at most third (after the handshake already running and, if the
      // scrape arrived just as that one finished, the next one).
      expect(established.indexOf(`${sshd.user}@${last}:${sshd.port}`)).toBeGreaterThanOrEqual(0);
      expect(established.indexOf(`${sshd.user}@${last}:${sshd.port}`)).toBeLessThanOrEqual(2);
      const after = await fetch(`${p.url}/metrics`).then((r) => r.text());
      expect(metricValue(after, "sshscrape_ssh_handshakes_total", { result: "success" })).toBe(HOSTS.length);
    } finally {
      await p.close(100);
    }
  });

  it("shares one handshake between concurrent first requests to a cold host", async () => {
    const p = await startProxy(runtimeFor(sshd, { exact: everyHost() }), { logger: log.logger });
    try {
      const before = sshdLogins(sshd);
      const results = await Promise.all(Array.from({ length: 25 }, () => viaProxy(p.url, url("127.0.0.2"))));
      expect(results.map((r) => r.status)).toEqual(Array(25).fill(200));
      const text = await fetch(`${p.url}/metrics`).then((r) => r.text());
      expect(metricValue(text, "sshscrape_ssh_handshakes_total", { result: "success" })).toBe(1);
      await waitFor("sshd log line", () => sshdLogins(sshd) === before + 1, 2000);
      expect(sshdLogins(sshd)).toBe(before + 1);
    } finally {
      await p.close(100);
    }
  });

  it("queues cold handshakes behind maxHandshakes instead of failing them", async () => {
    const p = await startProxy(runtimeFor(sshd, { exact: everyHost(), overrides: { maxHandshakes: 1 } }), {
      logger: log.logger,
    });
    try {
      const results = await Promise.all(HOSTS.map((h) => viaProxy(p.url, url(h))));
      expect(results.map((r) => r.status)).toEqual(HOSTS.map(() => 200));
      const text = await fetch(`${p.url}/metrics`).then((r) => r.text());
      expect(metricValue(text, "sshscrape_ssh_handshakes_total", { result: "success" })).toBe(HOSTS.length);
    } finally {
      await p.close(100);
    }
  });

  it("closes connections that stay idle for idleTimeout", async () => {
    const p = await startProxy(runtimeFor(sshd, { exact: everyHost(), timeouts: { idle: 300 } }), {
      logger: log.logger,
    });
    try {
      expect((await viaProxy(p.url, url("127.0.0.3"))).status).toBe(200);
      const connections = async () =>
        metricValue(await fetch(`${p.url}/metrics`).then((r) => r.text()), "sshscrape_ssh_connections");
      expect(await connections()).toBe(1);
      await waitFor("idle close", async () => (await connections()) === 0, 3000);
      // …and the next request simply logs in again.
      expect((await viaProxy(p.url, url("127.0.0.3"))).status).toBe(200);
    } finally {
      await p.close(100);
    }
  });

  it("reconnects when the pooled connection died on the server side", async () => {
    const p = await startProxy(runtimeFor(sshd, { exact: everyHost() }), { logger: log.logger });
    try {
      expect((await viaProxy(p.url, url("127.0.0.4"))).status).toBe(200);
      // Kill the per-connection sshd processes (children of the listener), as a reboot or OOM kill would.
      const children = execFileSync("pgrep", ["-P", String(sshd.pid())])
        .toString()
        .trim()
        .split("\n");
      for (const pid of children) process.kill(Number(pid), "SIGKILL");
      // The proxy notices the TCP close and drops the connection from the pool. (A request in flight when
      // the connection dies gets a clean 502 and is not replayed: the fault matrix's sshd-restart row.)
      const connections = async () =>
        metricValue(await fetch(`${p.url}/metrics`).then((r) => r.text()), "sshscrape_ssh_connections");
      await waitFor("the pool to drop the dead connection", async () => (await connections()) === 0);
      const res = await viaProxy(p.url, url("127.0.0.4"));
      expect(res.status).toBe(200);
      const text = await fetch(`${p.url}/metrics`).then((r) => r.text());
      expect(metricValue(text, "sshscrape_ssh_handshakes_total", { result: "success" })).toBe(2);
    } finally {
      await p.close(100);
    }
  });
});

describe("Semaphore", () => {
  it("grants in FIFO order and lets a waiter give up", async () => {
    const s = new Semaphore(1);
    const first = await s.acquire();
    const order: string[] = [];
    const ac = new AbortController();
    const second = s.acquire().then((r) => {
      order.push("second");
      return r;
    });
    const quitter = s.acquire(ac.signal).catch(() => order.push("quitter gave up"));
    const third = s.acquire().then((r) => {
      order.push("third");
      return r;
    });
    ac.abort(new Error("deadline"));
    await quitter;
    first();
    (await second)();
    (await third)();
    expect(order).toEqual(["quitter gave up", "second", "third"]);
    expect(s.inUse).toBe(0);
  });

  it("serves background waiters only when no foreground waiter is queued, and can raise one", async () => {
    const s = new Semaphore(1);
    const first = await s.acquire();
    const order: string[] = [];
    // Each waiter notes its turn and passes the slot on at once.
    const wait = (name: string, priority: { background: boolean }) =>
      s.acquire(undefined, priority).then((release) => {
        order.push(name);
        release();
      });
    const raised = { background: true };
    const all = Promise.all([
      wait("bg1", { background: true }),
      wait("bg2", raised),
      wait("fg", { background: false }),
    ]);
    raised.background = false; // a scrape came to share bg2's attempt
    first();
    await all;
    expect(order).toEqual(["bg2", "fg", "bg1"]);
  });
});
