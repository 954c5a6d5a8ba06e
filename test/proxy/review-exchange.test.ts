/**
 * Review probes for the exchange as one object (src/proxy/exchange.ts, server.ts' ProxiedRequest, the shared
 * response deadlines and idle lists): against real OpenSSH sshd and a raw-socket exporter whose answers each
 * test chooses. Each test checks that one request's fate (a timeout, a truncated body, a bodiless status, a
 * Connection header) stays that request's, and that the next scrape gets its own answer.
 */
import type { Socket } from "node:net";
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { type RunningProxy, startProxy } from "../../src/proxy/index.js";
import { waitFor } from "../helpers/processes.js";
import { memoryLogger, proxyWith, runtimeFor, viaProxy } from "../helpers/proxy.js";
import { RawClient } from "../helpers/raw-http.js";
import {
  type Answer,
  numbered,
  type ScriptedExporter,
  startScriptedExporter,
} from "../helpers/scripted-exporter.js";
import { type Sshd, startSshd } from "../helpers/sshd.js";

let sshd: Sshd;
/** One proxy with the raw front (front.ts), one with node:http's server only. */
const proxies = new Map<boolean, RunningProxy>();
let exporter: ScriptedExporter;
let port = 0;
/** Every request head the exporter parsed (first line), in order. */
let seen: string[] = [];
/** What the exporter does with request n: bytes to write (latin1), "<close>" at the end to close after. */
let answer: Answer;

beforeAll(async () => {
  sshd = await startSshd();
  exporter = await startScriptedExporter((n, socket) => answer(n, socket));
  ({ port, seen } = exporter);
  for (const front of [true, false])
    proxies.set(
      front,
      await proxyWith(front, () =>
        startProxy(runtimeFor(sshd, { exact: [{ host: "127.0.0.1", port }] }), {
          logger: memoryLogger("info").logger,
        }),
      ),
    );
});

beforeEach(() => {
  seen.length = 0;
  answer = numbered;
});

afterAll(async () => {
  for (const p of proxies.values()) await p.close(100);
  await exporter?.close();
  await sshd?.stop();
});

const target = () => `http://127.0.0.1:${port}/metrics`;

describe.each([
  ["raw front", true],
  ["node:http", false],
])("one request's fate stays its own (%s)", (_name, front) => {
  const proxy = {
    get url() {
      return (proxies.get(front) as RunningProxy).url;
    },
  };
  it("a stalled response ends in 504 while another request to the same exporter is answered after it", async () => {
    let release: (() => void) | undefined;
    answer = (n, socket) => {
      if (n === 1) return undefined; // never answered
      if (n === 2) {
        release = () => socket.write("HTTP/1.1 200 OK\r\nContent-Length: 6\r\n\r\nsecond", "latin1");
        return undefined;
      }
      return `HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n${String(n).padStart(2, "0")}`;
    };
    const stalled = viaProxy(proxy.url, target(), {
      headers: { "x-prometheus-scrape-timeout-seconds": "1.5" },
    });
    await waitFor("the first request at the exporter", () => seen.length === 1);
    const waiting = viaProxy(proxy.url, target());
    await waitFor("the second request at the exporter", () => seen.length === 2);
    const a = await stalled;
    expect(a.status).toBe(504);
    expect(a.headers["x-sshscrape-error"]).toBe("TIMEOUT");
    // The expiry of the first request's deadline did not touch the second, still waiting on its own channel.
    (release as () => void)();
    const b = await waiting;
    expect([b.status, b.body.toString()]).toEqual([200, "second"]);
    // The timed-out channel is never reused: the next scrape is the exporter's third request, answered as such.
    const c = await viaProxy(proxy.url, target());
    expect([c.status, c.body.toString()]).toEqual([200, "03"]);
  });

  it("a body cut short by the exporter fails that response; the next scrape gets its own whole answer", async () => {
    answer = (n) =>
      n === 1
        ? "HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nabc<close>"
        : `HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n${String(n).padStart(2, "0")}`;
    await expect(viaProxy(proxy.url, target())).rejects.toThrow();
    const b = await viaProxy(proxy.url, target());
    expect([b.status, b.body.toString()]).toEqual([200, "02"]);
  });

  it("204, 304 and HEAD end at their heads whatever Content-Length says, and the channel's next answer is the next request's", async () => {
    const heads = [
      "HTTP/1.1 204 No Content\r\nContent-Length: 5\r\n\r\n",
      "HTTP/1.1 304 Not Modified\r\nContent-Length: 7\r\n\r\n",
      "HTTP/1.1 200 OK\r\nContent-Length: 9\r\n\r\n",
    ];
    answer = (n) =>
      heads[n - 1] ?? `HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n${String(n).padStart(2, "0")}`;
    const a = await viaProxy(proxy.url, target());
    const b = await viaProxy(proxy.url, target());
    const h = await viaProxy(proxy.url, target(), { method: "HEAD" });
    const d = await viaProxy(proxy.url, target());
    expect([a.status, a.body.length]).toEqual([204, 0]);
    expect([b.status, b.body.length]).toEqual([304, 0]);
    expect([h.status, h.headers["content-length"], h.body.length]).toEqual([200, "9", 0]);
    expect([d.status, d.body.toString()]).toEqual([200, "04"]);
    expect(seen).toEqual([
      "GET /metrics HTTP/1.1",
      "GET /metrics HTTP/1.1",
      "HEAD /metrics HTTP/1.1",
      "GET /metrics HTTP/1.1",
    ]);
  });

  it("Connection: close from the exporter: that response is whole, and the next one comes over a fresh channel", async () => {
    const used: Socket[] = [];
    answer = (n, socket) => {
      used.push(socket);
      return n === 1
        ? "HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 5\r\n\r\nfirst"
        : `HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n${String(n).padStart(2, "0")}`;
    };
    const a = await viaProxy(proxy.url, target());
    expect([a.status, a.body.toString()]).toEqual([200, "first"]);
    const b = await viaProxy(proxy.url, target());
    expect([b.status, b.body.toString()]).toEqual([200, "02"]);
    expect(used[1]).not.toBe(used[0]);
  });

  it("an idle channel the exporter closes as it is reused: the scrape is sent again on a fresh channel", async () => {
    const used: Socket[] = [];
    answer = (n, socket) => {
      used.push(socket);
      if (n === 2) return "<close>"; // closed without a byte of a response: the request is replayed
      return `HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n${String(n).padStart(2, "0")}`;
    };
    const a = await viaProxy(proxy.url, target());
    const b = await viaProxy(proxy.url, target());
    expect([a.body.toString(), b.status, b.body.toString()]).toEqual(["01", 200, "03"]);
    expect(used[1]).toBe(used[0]);
    expect(used[2]).not.toBe(used[0]);
    // A reused channel closed after part of a head is not replayed: that scrape fails, the next is answered.
    answer = (n) =>
      n === 4
        ? "HTTP/1.1 200 OK\r\nContent-Le<close>"
        : `HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n${String(n).padStart(2, "0")}`;
    const c = await viaProxy(proxy.url, target());
    expect([c.status, c.headers["x-sshscrape-error"]]).toEqual([502, "UPSTREAM_FAILED"]);
    const d = await viaProxy(proxy.url, target());
    expect([d.status, d.body.toString()]).toEqual([200, "05"]);
  });

  it("one client connection after upstream errors: each answer is its request's, and a failed body ends the connection", async () => {
    answer = (n) => {
      if (n === 1) return "HTTP/1.1 2OO OK\r\nContent-Length: 2\r\n\r\nxx"; // bad status line: 502
      if (n === 3) return "HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nabc<close>"; // cut short
      return `HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n${String(n).padStart(2, "0")}`;
    };
    const get = `GET ${target()} HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\n\r\n`;
    const client = await RawClient.open(Number(new URL(proxy.url).port));
    try {
      await client.write(get);
      const a = await client.response();
      expect([a.status, /x-sshscrape-error: UPSTREAM_FAILED/i.test(a.head)]).toEqual([502, true]);
      await client.write(get);
      const b = await client.response();
      expect([b.status, b.body.toString()]).toEqual([200, "02"]);
      await client.write(get);
      // Headers of the third response were sent before its body was cut short: the connection is closed, and
      // nothing that looks like a whole response (or another request's bytes) arrives.
      await client.done;
      const rest = client.pending().toString("latin1");
      expect(rest).toMatch(/^HTTP\/1\.1 200 OK\r\n/);
      expect(rest.endsWith("abc")).toBe(true);
      expect(seen.length).toBe(3);
    } finally {
      client.destroy();
    }
  });

  it("a client that resets its connection mid-body: its channel is closed at the exporter, and the next scrape is answered", async () => {
    let held: Socket | undefined;
    answer = (n, socket) => {
      if (n === 1) {
        held = socket;
        return "HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nab";
      }
      return `HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n${String(n).padStart(2, "0")}`;
    };
    const client = await RawClient.open(Number(new URL(proxy.url).port));
    await client.write(`GET ${target()} HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\n\r\n`);
    await waitFor("the head and the first body bytes at the client", () =>
      client.pending().toString("latin1").endsWith("\r\n\r\nab"),
    );
    // A reset (a client killed, or Prometheus giving up): a FIN alone is a half-close to the raw front, which
    // then finishes the response, or fails it at the response deadline, as it does for a client still reading.
    (client as unknown as { socket: Socket }).socket.resetAndDestroy();
    await waitFor(
      "the exporter's connection of the abandoned scrape to close",
      () => held?.destroyed === true,
    );
    const b = await viaProxy(proxy.url, target());
    expect([b.status, b.body.toString()]).toEqual([200, "02"]);
  });

  it("header lines the exporter makes up on every response: each response's own fields, hop-by-hop ones dropped", async () => {
    // More distinct lines than the reader's caches hold, so they are cleared and refilled on the way.
    answer = (n) =>
      "HTTP/1.1 200 OK\r\n" +
      `X-Seq: ${n}\r\n` +
      (n % 2 === 1
        ? `Connection: keep-alive, x-odd-${n}\r\nX-Odd-${n}: hidden\r\n`
        : `X-Even-${n}: shown\r\n`) +
      `Content-Length: 2\r\n\r\n${String(n % 100).padStart(2, "0")}`;
    for (let n = 1; n <= 150; n++) {
      const r = await viaProxy(proxy.url, target());
      expect(r.status).toBe(200);
      expect(r.headers["x-seq"]).toBe(String(n));
      expect(r.body.toString()).toBe(String(n % 100).padStart(2, "0"));
      if (n % 2 === 1) {
        expect(r.headers[`x-odd-${n}`]).toBeUndefined();
        expect(r.headers.connection).not.toContain("x-odd");
      } else expect(r.headers[`x-even-${n}`]).toBe("shown");
    }
  });
});
