/**
 * The front's parser against node:http's own (llhttp, with the proxy's server options): for heads generated
 * near the edge of the grammar (odd bytes in the target, names and values; bare CR/LF; duplicates; framing
 * fields; other methods and versions), every head the front would serve must be one node:http accepts, read
 * as the same method, target and header fields. A head the front hands off needs no check here: node:http
 * reads it either way. This is what keeps a second parser from becoming a smuggling vector
 * (docs/security.md, "The raw front").
 */
import { createServer, type IncomingMessage, type Server } from "node:http";
import { connect } from "node:net";
import fc from "fast-check";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { parseFrontHead } from "../../src/proxy/front-parser.js";
import { HEADERS_TIMEOUT_MS, MAX_HEADER_BYTES } from "../../src/proxy/server.js";

let server: Server;
let port: number;
const seen: Array<{ method: string; url: string; rawHeaders: string[]; httpVersion: string }> = [];

beforeAll(async () => {
  server = createServer(
    { maxHeaderSize: MAX_HEADER_BYTES, headersTimeout: HEADERS_TIMEOUT_MS },
    (req: IncomingMessage, res) => {
      seen.push({
        method: req.method ?? "",
        url: req.url ?? "",
        rawHeaders: req.rawHeaders,
        httpVersion: req.httpVersion,
      });
      res.writeHead(204).end();
    },
  );
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  const addr = server.address();
  port = typeof addr === "object" && addr ? addr.port : 0;
});

afterAll(() => new Promise<void>((r) => server.close(() => r())));

/** What node:http makes of `bytes`: the request it read, or undefined when it refused it. */
function nodeReads(bytes: Buffer): Promise<(typeof seen)[number] | undefined> {
  return new Promise((resolve) => {
    const before = seen.length;
    const s = connect(port, "127.0.0.1");
    let out = "";
    s.on("data", (d) => {
      out += d.toString("latin1");
      if (out.includes("\r\n\r\n")) s.destroy();
    });
    s.on("error", () => {});
    s.on("close", () => resolve(out.startsWith("HTTP/1.1 204") ? seen[before] : undefined));
    s.write(bytes);
  });
}

const pick = <T>(xs: T[]) => fc.constantFrom(...xs);
const ODD = [
  "\t",
  " ",
  '"',
  "<",
  "{",
  "|",
  "\\",
  "^",
  "`",
  "\x7f",
  "\x00",
  "\x01",
  "\r",
  "\n",
  "\x80",
  "\xe9",
  "\xff",
  "#",
  "%",
  "[",
  "]",
];
/** Mostly `chars`, now and then one of ODD. */
const text = (chars: string[]) =>
  fc
    .array(fc.oneof({ arbitrary: pick(chars), weight: 30 }, { arbitrary: pick(ODD), weight: 1 }), {
      maxLength: 12,
    })
    .map((a) => a.join(""));
/** Usually `usual`, sometimes something from `odd`. */
const mostly = <T>(usual: T, odd: T[]) =>
  fc.oneof({ arbitrary: fc.constant(usual), weight: 12 }, { arbitrary: pick(odd), weight: 1 });
const PLAIN = "abcxyzABC019-._~:/?@!$&'()*+,;=".split("");
const NAMES = [
  "Host",
  "host",
  "X-A",
  "x-a",
  "User-Agent",
  "Accept",
  "Content-Length",
  "Transfer-Encoding",
  "Connection",
  "Proxy-Connection",
  "Expect",
  "Upgrade",
  "X-Prometheus-Scrape-Timeout-Seconds",
  "Proxy-Authorization",
  "X A",
  "X\tA",
  "",
  " X",
  "X:A",
  "X\x00",
];
const VALUES = ["", "1", "keep-alive", "close", "chunked", "0", "127.0.0.1:9100", "Basic cHJvbTpzM2NyZXQ="];
const EOL = ["\r\n", "\r\n", "\r\n", "\r\n", "\n", "\r", "\r\r\n"];

const headArb = fc
  .record({
    method: fc.oneof(mostly("GET", ["get", "POST", "CONNECT", "GET ", "GE"]), fc.constant("HEAD")),
    target: fc.oneof(
      fc.constant("http://127.0.0.1:9100/metrics"),
      text(PLAIN).map((t) => `http://127.0.0.1:9100/${t}`),
      text(PLAIN).map((t) => `http://${t}/metrics`),
      pick(["/metrics", "127.0.0.1:9100", "HTTP://h:1/", "http://h:1/#frag"]),
    ),
    version: mostly("HTTP/1.1", ["HTTP/1.0", "HTTP/1.1 ", "http/1.1", "HTTP/1.10", "HTTP/2"]),
    lineEnd: mostly("\r\n", EOL),
    fields: fc.array(
      fc.record({
        name: fc.oneof(
          { arbitrary: pick(NAMES), weight: 1 },
          { arbitrary: text(PLAIN.filter((c) => /[A-Za-z0-9-]/.test(c))).map((t) => `X-${t}`), weight: 3 },
        ),
        pre: pick(["", " ", "\t", "  "]),
        value: fc.oneof(pick(VALUES), text(PLAIN)),
        post: pick(["", " ", "\t"]),
        eol: mostly("\r\n", EOL),
      }),
      { maxLength: 6 },
    ),
    withHost: mostly(true, [false]),
    end: mostly("\r\n", ["\n", "\r"]),
  })
  .map((h) => {
    let s = `${h.method} ${h.target} ${h.version}${h.lineEnd}`;
    if (h.withHost) s += "Host: 127.0.0.1:9100\r\n";
    for (const f of h.fields) s += `${f.name}:${f.pre}${f.value}${f.post}${f.eol}`;
    return Buffer.from(`${s}${h.end}`, "latin1");
  });

describe("every head the front serves, node:http reads the same way", () => {
  it("generated heads near the grammar's edge", async () => {
    let served = 0;
    await fc.assert(
      fc.asyncProperty(headArb, async (bytes) => {
        const front = parseFrontHead(bytes);
        if (typeof front !== "object") return;
        served++;
        const node = await nodeReads(bytes);
        expect(node, JSON.stringify(bytes.toString("latin1"))).toBeDefined();
        expect(node?.method).toBe(front.method);
        expect(node?.url).toBe(front.url);
        expect(node?.httpVersion).toBe("1.1");
        expect(node?.rawHeaders).toEqual(front.rawHeaders);
        expect(front.length).toBe(bytes.length);
      }),
      { numRuns: 1500, seed: 14 },
    );
    // The generator must reach the served side often enough for the property to mean something.
    expect(served).toBeGreaterThan(50);
  }, 60_000);
});
