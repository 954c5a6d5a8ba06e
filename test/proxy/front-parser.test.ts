/**
 * The raw front's head grammar (src/proxy/front-parser.ts): what it serves itself, and that everything
 * else — including every request node:http would refuse or read differently — is handed to node:http.
 * (front-handoff.test.ts checks the hand-off end to end; this checks the decision.)
 */
import { describe, expect, it } from "vitest";
import { HAND_OFF, INCOMPLETE, parseFrontHead } from "../../src/proxy/front-parser.js";

const LINE = "GET http://127.0.0.1:9100/metrics HTTP/1.1";
const head = (...lines: string[]) =>
  Buffer.from(`${[LINE, "Host: 127.0.0.1:9100", ...lines].join("\r\n")}\r\n\r\n`, "latin1");

describe("served by the front", () => {
  it("Prometheus' request: method, target, header fields as sent, lower-cased lookup, head length", () => {
    const bytes = head(
      "User-Agent: Prometheus/2.42.0",
      "Accept: application/openmetrics-text;version=1.0.0,text/plain;version=0.0.4;q=0.5",
      "Accept-Encoding: gzip",
      "X-Prometheus-Scrape-Timeout-Seconds: 10",
    );
    const h = parseFrontHead(Buffer.concat([bytes, Buffer.from("GET next")]));
    if (typeof h !== "object") throw new Error(`not served: ${h}`);
    expect(h.method).toBe("GET");
    expect(h.url).toBe("http://127.0.0.1:9100/metrics");
    expect(h.length).toBe(bytes.length);
    expect(h.rawHeaders.slice(0, 4)).toEqual(["Host", "127.0.0.1:9100", "User-Agent", "Prometheus/2.42.0"]);
    expect(h.headers["x-prometheus-scrape-timeout-seconds"]).toBe("10");
  });

  it("optional whitespace around values is not part of them; HEAD; Connection: keep-alive", () => {
    const h = parseFrontHead(
      Buffer.from(`HEAD http://h:1/ HTTP/1.1\r\nHost:h:1\r\nX-A: \t v \t\r\nConnection: Keep-Alive\r\n\r\n`),
    );
    if (typeof h !== "object") throw new Error(`not served: ${h}`);
    expect(h.method).toBe("HEAD");
    expect(h.rawHeaders).toEqual(["Host", "h:1", "X-A", "v", "Connection", "Keep-Alive"]);
  });

  it("the same head again is the same frozen result (parsed once)", () => {
    const a = parseFrontHead(head("X-Same: 1"));
    const b = parseFrontHead(head("X-Same: 1"));
    expect(a).toBe(b);
    expect(Object.isFrozen(a)).toBe(true);
    if (typeof a === "object") {
      expect(Object.isFrozen(a.rawHeaders)).toBe(true);
      expect(Object.isFrozen(a.headers)).toBe(true);
    }
  });
  it("the cache is bounded: after 2.4 MB of other heads, a head is parsed again", () => {
    const first = parseFrontHead(head("X-Bounded: 1"));
    for (let i = 0; i < 40_000; i++) parseFrontHead(head(`X-Other: ${i}`));
    const again = parseFrontHead(head("X-Bounded: 1"));
    expect(again).not.toBe(first);
    expect(again).toEqual(first);
  });
});

describe("not complete yet", () => {
  it("every proper prefix of a head is INCOMPLETE", () => {
    const bytes = head("User-Agent: x");
    for (let i = 0; i < bytes.length; i++) expect(parseFrontHead(bytes.subarray(0, i))).toBe(INCOMPLETE);
  });
  it("but 8 KB without the end of a head is handed off (node:http's limits decide)", () => {
    expect(parseFrontHead(Buffer.from(`${LINE}\r\nX: ${"a".repeat(9000)}`))).toBe(HAND_OFF);
  });
});

describe("handed to node:http", () => {
  const cases: Array<[string, string | Buffer]> = [
    ["POST", `POST http://h:1/ HTTP/1.1\r\nHost: h\r\n\r\n`],
    ["lower-case method", `get http://h:1/ HTTP/1.1\r\nHost: h\r\n\r\n`],
    ["CONNECT", `CONNECT h:1 HTTP/1.1\r\nHost: h:1\r\n\r\n`],
    ["origin-form (admin endpoints)", `GET /metrics HTTP/1.1\r\nHost: h\r\n\r\n`],
    ["https scheme", `GET https://h:1/ HTTP/1.1\r\nHost: h\r\n\r\n`],
    ["upper-case scheme", `GET HTTP://h:1/ HTTP/1.1\r\nHost: h\r\n\r\n`],
    ["HTTP/1.0", `GET http://h:1/ HTTP/1.0\r\nHost: h\r\n\r\n`],
    ["HTTP/2.0", `GET http://h:1/ HTTP/2.0\r\nHost: h\r\n\r\n`],
    ["two spaces", `GET  http://h:1/ HTTP/1.1\r\nHost: h\r\n\r\n`],
    ["a tab in the request line", `GET\thttp://h:1/ HTTP/1.1\r\nHost: h\r\n\r\n`],
    ["leading empty line", `\r\nGET http://h:1/ HTTP/1.1\r\nHost: h\r\n\r\n`],
    ["non-URI character in the target", `GET http://h:1/"x" HTTP/1.1\r\nHost: h\r\n\r\n`],
    ["non-ASCII in the target", Buffer.from(`GET http://h:1/\xe9 HTTP/1.1\r\nHost: h\r\n\r\n`, "latin1")],
    ["no Host", `GET http://h:1/ HTTP/1.1\r\nX: y\r\n\r\n`],
    ["two Host fields", `GET http://h:1/ HTTP/1.1\r\nHost: h\r\nHost: i\r\n\r\n`],
    ["a field name twice", `GET http://h:1/ HTTP/1.1\r\nHost: h\r\nX-A: 1\r\nx-a: 2\r\n\r\n`],
    [
      "Proxy-Authorization twice",
      `GET http://h:1/ HTTP/1.1\r\nHost: h\r\nProxy-Authorization: a\r\nProxy-Authorization: b\r\n\r\n`,
    ],
    ["Content-Length: 0", `GET http://h:1/ HTTP/1.1\r\nHost: h\r\nContent-Length: 0\r\n\r\n`],
    ["Transfer-Encoding", `GET http://h:1/ HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n`],
    ["Expect", `GET http://h:1/ HTTP/1.1\r\nHost: h\r\nExpect: 100-continue\r\n\r\n`],
    ["Upgrade", `GET http://h:1/ HTTP/1.1\r\nHost: h\r\nUpgrade: websocket\r\n\r\n`],
    ["TE", `GET http://h:1/ HTTP/1.1\r\nHost: h\r\nTE: trailers\r\n\r\n`],
    ["Connection: close", `GET http://h:1/ HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n`],
    [
      "Connection naming a field",
      `GET http://h:1/ HTTP/1.1\r\nHost: h\r\nConnection: keep-alive, X-A\r\n\r\n`,
    ],
    ["Proxy-Connection: close", `GET http://h:1/ HTTP/1.1\r\nHost: h\r\nProxy-Connection: close\r\n\r\n`],
    ["obs-fold", `GET http://h:1/ HTTP/1.1\r\nHost: h\r\nX-A: 1\r\n 2\r\n\r\n`],
    ["space before the colon", `GET http://h:1/ HTTP/1.1\r\nHost: h\r\nX-A : 1\r\n\r\n`],
    ["no colon", `GET http://h:1/ HTTP/1.1\r\nHost: h\r\nX-A 1\r\n\r\n`],
    ["empty field name", `GET http://h:1/ HTTP/1.1\r\nHost: h\r\n: 1\r\n\r\n`],
    ["bare LF ending a line", `GET http://h:1/ HTTP/1.1\nHost: h\r\n\r\n`],
    ["bare LF in a value", `GET http://h:1/ HTTP/1.1\r\nHost: h\r\nX-A: 1\n2\r\n\r\n`],
    ["bare CR in a value", `GET http://h:1/ HTTP/1.1\r\nHost: h\r\nX-A: 1\r2\r\n\r\n`],
    ["NUL in a value", `GET http://h:1/ HTTP/1.1\r\nHost: h\r\nX-A: 1\x002\r\n\r\n`],
    ["DEL in a value", `GET http://h:1/ HTTP/1.1\r\nHost: h\r\nX-A: 1\x7f2\r\n\r\n`],
    [
      "obs-text in a value",
      Buffer.from(`GET http://h:1/ HTTP/1.1\r\nHost: h\r\nX-A: caf\xe9\r\n\r\n`, "latin1"),
    ],
    ["__proto__ as a field name", `GET http://h:1/ HTTP/1.1\r\nHost: h\r\n__proto__: 1\r\n\r\n`],
    ["more than 64 header lines", `GET http://h:1/ HTTP/1.1\r\nHost: h\r\n${"X: 1\r\n".repeat(70)}\r\n`],
    ["a head over 8 KB", `GET http://h:1/ HTTP/1.1\r\nHost: h\r\nX: ${"a".repeat(9000)}\r\n\r\n`],
  ];
  it.each(cases)("%s", (_name, bytes) => {
    expect(parseFrontHead(Buffer.isBuffer(bytes) ? bytes : Buffer.from(bytes, "latin1"))).toBe(HAND_OFF);
  });
});
