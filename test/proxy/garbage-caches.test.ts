/**
 * What the proxy now keeps instead of working out again per scrape (docs/benchmarks.md, "Garbage per
 * scrape") must give what working it out gives: the response reader's end-to-end header list and keep-alive
 * reading from its cached header lines.
 */
import { describe, expect, it } from "vitest";
import { endToEndHeaders } from "../../src/proxy/hop-by-hop.js";
import { MalformedResponseError, type ResponseHead } from "../../src/proxy/response-reader.js";
import { readHead } from "../helpers/response-head.js";

function head(text: string): ResponseHead {
  const seen = readHead(`${text}\r\n\r\n`);
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

describe("status lines read from the cache", () => {
  it("give the same status, reason and version every time, and a bad one is refused every time", () => {
    const cases: Array<[string, number, string, number]> = [
      ["HTTP/1.1 200 OK", 200, "OK", 1],
      ["HTTP/1.0 404 Not Found", 404, "Not Found", 0],
      ["HTTP/1.1 200", 200, "", 1],
      ["HTTP/1.1 503 ", 503, "", 1],
    ];
    for (let pass = 0; pass < 2; pass++) {
      for (const [line, status, reason, minor] of cases) {
        const h = head(`${line}\r\nContent-Length: 0`);
        expect([h.status, h.reason, h.minor], line).toEqual([status, reason, minor]);
      }
      for (const bad of ["HTTP/1.1 20 OK", "HTTP/2 200 OK", "HTTP/1.1 200 OK\r", " HTTP/1.1 200 OK"])
        expect(() => head(`${bad}\r\nContent-Length: 0`), bad).toThrow(MalformedResponseError);
    }
  });
});
