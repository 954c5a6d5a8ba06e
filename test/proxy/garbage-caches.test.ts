/**
 * What the proxy now keeps instead of working out again per scrape (docs/benchmarks.md, "Garbage per
 * scrape") must give what working it out gives: the response reader's end-to-end header list and keep-alive
 * reading from its cached header lines, and the prologue's target and framing plan for a head the raw front
 * served before.
 */
import { describe, expect, it } from "vitest";
import type { Allowlist } from "../../src/proxy/allowlist.js";
import { PathNotAllowedError } from "../../src/proxy/errors.js";
import { decideFraming } from "../../src/proxy/framing.js";
import { type FrontHead, parseFrontHead } from "../../src/proxy/front-parser.js";
import { endToEndHeaders } from "../../src/proxy/hop-by-hop.js";
import { admitRequest, type PrologueDeps } from "../../src/proxy/prologue.js";
import { type ResponseHead, ResponseReader } from "../../src/proxy/response-reader.js";
import type { ProxyRuntime } from "../../src/proxy/settings.js";

function head(text: string): ResponseHead {
  let seen: ResponseHead | undefined;
  const reader = new ResponseReader(
    {
      head: (h) => {
        seen = h;
        return true;
      },
      body: () => true,
    },
    false,
  );
  reader.push(Buffer.from(`${text}\r\n\r\n`, "latin1"));
  if (seen === undefined) throw new Error("no head");
  return seen;
}

/** Keep-alive as RFC 9112 §9.3 reads it, token by token in order, and the last Keep-Alive timeout hint. */
function reference(h: ResponseHead): { keepAlive: boolean; hint: number | undefined } {
  let keepAlive = h.minor === 1;
  let hint: number | undefined;
  const raw = h.rawHeaders;
  for (let i = 0; i < raw.length; i += 2) {
    const name = (raw[i] as string).toLowerCase();
    const value = raw[i + 1] as string;
    if (name === "connection")
      for (const t of value.toLowerCase().split(",")) {
        if (t.trim() === "close") keepAlive = false;
        else if (t.trim() === "keep-alive" && h.minor === 0) keepAlive = true;
      }
    else if (name === "keep-alive") {
      const m = /(?:^|[,\s])timeout=(\d+)/i.exec(value);
      if (m) hint = Number(m[1]) * 1000 - 1000;
    }
  }
  // Chunked and Content-Length framing keep it; a close-delimited body does not (ResponseReader.framing).
  return { keepAlive, hint };
}

const long = `X-Long: ${"v".repeat(300)}`;
const heads = [
  "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 2",
  "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nConnection: keep-alive\r\nKeep-Alive: timeout=5\r\nContent-Length: 2",
  "HTTP/1.1 200 OK\r\nConnection: keep-alive, X-Trace\r\nX-Trace: 1\r\nKeep-Alive: max=100, timeout=7\r\nTransfer-Encoding: chunked",
  "HTTP/1.1 200 OK\r\nConnection: close, keep-alive\r\nContent-Length: 2",
  "HTTP/1.0 200 OK\r\nConnection: close, keep-alive\r\nContent-Length: 2",
  "HTTP/1.0 200 OK\r\nConnection: keep-alive, close\r\nContent-Length: 2",
  "HTTP/1.0 200 OK\r\nConnection: Keep-Alive\r\nKeep-Alive: timeout=3\r\nKeep-Alive: max=5\r\nContent-Length: 2",
  "HTTP/1.1 200 OK\r\nConnection: Content-Length, Host, x-long\r\nHost: a\r\nContent-Length: 2",
  `HTTP/1.1 200 OK\r\n${long}\r\nConnection: X-LONG\r\nContent-Length: 2`,
  `HTTP/1.1 200 OK\r\n${long}\r\nContent-Length: 2`,
  "HTTP/1.1 200 OK\r\nConnection: x-a\r\nConnection: X-B, close\r\nX-A: 1\r\nX-B: 2\r\nX-C: 3\r\nTE: trailers\r\nUpgrade: h2c\r\nProxy-Authenticate: x\r\nContent-Length: 2",
  "HTTP/1.1 204 No Content\r\nTrailer: X\r\nConnection:  ,, x-a ,",
];

describe("response heads read from cached header lines", () => {
  it("forward exactly endToEndHeaders' fields and read keep-alive as before, the first time and from the cache", () => {
    for (const text of heads)
      for (let pass = 0; pass < 2; pass++) {
        const h = head(text);
        expect(h.endToEnd, text).toEqual(endToEndHeaders(h.rawHeaders));
        const want = reference(h);
        expect(h.keepAlive, text).toBe(want.keepAlive);
        expect(h.keepAliveHintMs, text).toBe(want.hint);
      }
  });

  it("forward the received list itself when no field is hop-by-hop", () => {
    const h = head(heads[0] as string);
    expect(h.endToEnd).toBe(h.rawHeaders);
  });
});

const REQUEST =
  "GET http://127.0.0.1:9100/metrics HTTP/1.1\r\nHost: 127.0.0.1:9100\r\nUser-Agent: Prometheus/2.42.0\r\n" +
  "Accept: text/plain\r\nX-Prometheus-Scrape-Timeout-Seconds: 10\r\nConnection: keep-alive\r\n\r\n";

function frontHead(text = REQUEST): FrontHead {
  const h = parseFrontHead(Buffer.from(text, "latin1"));
  if (typeof h === "number") throw new Error("not served by the front");
  return h;
}

function deps(over: Partial<ProxyRuntime> = {}): PrologueDeps {
  const runtime = {
    timeouts: { margin: 500, request: 30_000 },
    hosts: new Map(),
    defaults: { user: "u", port: 22, keyFile: "/k", remoteAddress: "127.0.0.1" },
    ...over,
  } as unknown as ProxyRuntime;
  const allowlist = { allows: () => true, howToAllow: "" } as unknown as Allowlist;
  return { runtime: () => runtime, allowlist: () => allowlist, credentials: () => undefined };
}

describe("the prologue's plans for heads the front keeps", () => {
  it("are decideFraming's plan, kept (frozen) for the next request with the same head", () => {
    const d = deps();
    const h = frontHead();
    const first = admitRequest({ ...h, httpVersion: "1.1" }, d, { label: "other" });
    const again = admitRequest({ ...frontHead(), httpVersion: "1.1" }, d, { label: "other" });
    const fresh = decideFraming({ ...h, httpVersion: "1.1" }, { authority: "127.0.0.1:9100" });
    expect(fresh.ok && first.plan).toEqual(fresh.ok && fresh.plan);
    expect(again.plan).toBe(first.plan);
    expect(Object.isFrozen(first.plan) && Object.isFrozen(first.plan.headers)).toBe(true);
    expect([again.label, again.port, again.path]).toEqual(["127.0.0.1:9100", 9100, "/metrics"]);
  });

  it("are decided again when the exporter's methods change (a reload), and not kept for node:http's heads", () => {
    const h = frontHead();
    const first = admitRequest({ ...h, httpVersion: "1.1" }, deps(), { label: "other" });
    const extra = new Map([["127.0.0.1:9100", new Set(["POST"])]]);
    const other = admitRequest({ ...h, httpVersion: "1.1" }, deps({ extraMethods: extra }), {
      label: "other",
    });
    expect(other.plan).not.toBe(first.plan);
    expect(other.plan).toEqual(first.plan);
    const plain = {
      method: "GET",
      url: h.url,
      httpVersion: "1.1",
      rawHeaders: [...h.rawHeaders],
      headers: { ...h.headers },
    };
    const a = admitRequest(plain, deps(), { label: "other" });
    const b = admitRequest(plain, deps(), { label: "other" });
    expect(a.plan).toEqual(first.plan);
    expect(b.plan).not.toBe(a.plan);
    expect(Object.isFrozen(a.plan)).toBe(false);
  });

  it("still check the path on every request", () => {
    const h = frontHead(REQUEST.replace("/metrics", "/other"));
    const allowed = deps();
    admitRequest({ ...h, httpVersion: "1.1" }, allowed, { label: "other" });
    const strict = deps({ paths: new Map([["127.0.0.1:9100", "/metrics"]]) });
    for (let i = 0; i < 2; i++)
      expect(() => admitRequest({ ...h, httpVersion: "1.1" }, strict, { label: "other" })).toThrow(
        PathNotAllowedError,
      );
  });
});
