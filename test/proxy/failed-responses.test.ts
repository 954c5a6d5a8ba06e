/**
 * What a client sees when the exchange fails a response after the exporter's head arrived, on both of the
 * proxy's HTTP paths: the raw front (front.ts, plain `GET http://… HTTP/1.1`) and node:http (everything else:
 * HTTP/1.0, a request with a body framing header, and every request with SSHSCRAPE_FRONT=0). Real sshd, an
 * exporter scripted byte for byte.
 *
 * The rule (docs/proxy.md, "Failed responses"): the exporter's head goes to the client with the first body
 * bytes. Until then nothing of the response has left, and a failure is answered like one before any head
 * arrived: 502 / 504 with a plain-text body and X-Sshscrape-Error. Once the head was handed to the client's
 * socket the status is committed: what was handed over is flushed and the connection closed, so the client
 * sees a response cut short (a chunked body without its last-chunk), never a connection closed with nothing.
 * Before, node:http closed the connection with no status line in both cases (ECONNRESET, 0 bytes), and the
 * front sent the exporter's 200 head with no body where nothing had left yet.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { RunningProxy } from "../../src/proxy/index.js";
import { type BothFronts, startBothFronts } from "../helpers/both-fronts.js";
import { waitFor } from "../helpers/processes.js";
import { parseResponse, RawClient } from "../helpers/raw-http.js";
import type { ScriptedExporter } from "../helpers/scripted-exporter.js";

const LIMIT = 10_000;
const chunk = (n: number, c: string) => `${n.toString(16)}\r\n${c.repeat(n)}\r\n`;
/** Each path's answer, written in one write (one SSH packet); "<close>" closes the connection after it. */
const SCRIPTS: Record<string, string | undefined> = {
  // One chunk over the limit, in the packet that carries the head: the first body bytes cross it.
  "/too-large": `HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n${chunk(16_000, "x")}`,
  // The head (a Content-Length under the limit), then the exporter closes the connection.
  "/head-only-close": "HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n<close>",
  // The head, then nothing: the response deadline fires.
  "/head-only-stall": "HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n",
  // Head and a first chunk under the limit are handed to the client, then the next chunk crosses it in the
  // same SSH read: the 200 is committed.
  "/committed": `HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n${chunk(6_000, "a")}${chunk(6_000, "b")}`,
};

let lab: BothFronts;
let exporter: ScriptedExporter;
let front: RunningProxy;
let plain: RunningProxy;

beforeAll(async () => {
  lab = await startBothFronts((path) => SCRIPTS[path], {
    timeouts: { margin: 0 },
    overrides: { maxResponseBytes: LIMIT },
  });
  ({ exporter, front, plain } = lab);
});

afterAll(() => lab?.stop());

/**
 * What the proxy sends on a fresh connection for `bytes` until a whole response arrived or it closed the
 * connection. (No `Connection: close` in the requests: the front hands such a request to node:http.)
 */
async function answerTo(p: RunningProxy, bytes: string): Promise<string> {
  const c = await RawClient.open(Number(new URL(p.url).port));
  try {
    await c.write(bytes);
    await waitFor(
      "a whole response or a close",
      () => c.closed || !!parseResponse(c.pending(), false, false),
    );
    return c.pending().toString("latin1");
  } finally {
    c.destroy();
  }
}

const target = (path: string) => `http://127.0.0.1:${exporter.port}${path}`;
const host = () => `127.0.0.1:${exporter.port}`;

/** The request forms and which path serves them on which proxy. */
const forms: Array<[string, () => RunningProxy, (path: string) => string]> = [
  ["raw front (GET, HTTP/1.1)", () => front, (p) => `GET ${target(p)} HTTP/1.1\r\nHost: ${host()}\r\n`],
  [
    "node:http with SSHSCRAPE_FRONT=0",
    () => plain,
    (p) => `GET ${target(p)} HTTP/1.1\r\nHost: ${host()}\r\n`,
  ],
  [
    "node:http by hand-off (HTTP/1.0)",
    () => front,
    (p) => `GET ${target(p)} HTTP/1.0\r\nHost: ${host()}\r\n`,
  ],
  [
    "node:http by hand-off (Content-Length: 0)",
    () => front,
    (p) => `GET ${target(p)} HTTP/1.1\r\nHost: ${host()}\r\nContent-Length: 0\r\n`,
  ],
];

describe.each(forms)("a failed response, %s", (_name, proxy, request) => {
  const ask = (path: string, extra = "") => answerTo(proxy(), `${request(path)}${extra}\r\n`);

  it("nothing sent yet, the first body bytes cross maxResponseBytes: 502 RESPONSE_TOO_LARGE", async () => {
    for (let i = 0; i < 3; i++) {
      const raw = await ask("/too-large");
      expect(raw).toMatch(/^HTTP\/1\.1 502 /);
      expect(raw).toMatch(/\r\nX-Sshscrape-Error: RESPONSE_TOO_LARGE\r\n/i);
      expect(raw).toContain("maxResponseBytes");
    }
  });

  it("nothing sent yet, the exporter closes after the head: 502 UPSTREAM_FAILED", async () => {
    const raw = await ask("/head-only-close");
    expect(raw).toMatch(/^HTTP\/1\.1 502 /);
    expect(raw).toMatch(/\r\nX-Sshscrape-Error: UPSTREAM_FAILED\r\n/i);
    expect(raw).toContain("the response closed before its end");
  });

  it("nothing sent yet, the deadline fires after the head: 504 TIMEOUT", async () => {
    const raw = await ask("/head-only-stall", "X-Prometheus-Scrape-Timeout-Seconds: 0.5\r\n");
    expect(raw).toMatch(/^HTTP\/1\.1 504 /);
    expect(raw).toMatch(/\r\nX-Sshscrape-Error: TIMEOUT\r\n/i);
  });

  it("the head and a first chunk handed over, then the limit crossed in the same read: a 200 cut short", async () => {
    for (let i = 0; i < 3; i++) {
      const raw = await ask("/committed");
      expect(raw).toMatch(/^HTTP\/1\.1 200 /);
      expect(raw).toContain("a".repeat(6_000));
      expect(raw).not.toContain("b");
      expect(raw).not.toMatch(/\r\n0\r\n\r\n$/);
    }
  });
});
