/**
 * The raw front (src/proxy/front.ts) against node:http's server, byte for byte: two proxies on one real
 * sshd, one with the front (the default) and one with SSHSCRAPE_FRONT=0, get the same requests for the same
 * exporter answers (a raw exporter that sends exactly the bytes listed below), and must send the same bytes
 * back: status line and reason, header fields in order, node:http's own Connection / Keep-Alive lines,
 * chunked re-encoding when the exporter's length is not known, nothing after the head of a HEAD answer, and
 * the proxy's own error answers (Date lines excepted: they carry the time). Each request is sent twice on one
 * connection (keep-alive reuse), and the front's log must show that it served them itself.
 */
import { createServer, type Server, type Socket } from "node:net";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type RunningProxy, startProxy } from "../../src/proxy/index.js";
import { metricsBody } from "../helpers/exporter.js";
import { closedPort } from "../helpers/ports.js";
import { memoryLogger, proxyWith, runtimeFor } from "../helpers/proxy.js";
import { RawClient, type RawResponse, undated } from "../helpers/raw-http.js";
import { type Sshd, startSshd } from "../helpers/sshd.js";

interface Canned {
  head: string;
  body?: string | Buffer;
  /** The exporter closes the connection after this answer. */
  close?: boolean;
}

const big = metricsBody(100_000);
const CANNED: Record<string, Canned> = {
  "/cl-small": {
    head: "HTTP/1.1 200 OK\r\nContent-Type: text/plain; version=0.0.4\r\nContent-Length: 8\r\n\r\n",
    body: "metric 1",
  },
  "/cl-big": {
    head: `HTTP/1.1 200 OK\r\nContent-Type: text/plain; version=0.0.4\r\nContent-Length: ${big.length}\r\n\r\n`,
    body: big,
  },
  "/cl-zero": { head: "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n" },
  "/chunked": {
    head: "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nTransfer-Encoding: chunked\r\n\r\n",
    body: "5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n",
  },
  "/chunked-big": {
    head: "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nTransfer-Encoding: chunked\r\n\r\n",
    body: Buffer.concat([Buffer.from(`${big.length.toString(16)}\r\n`), big, Buffer.from("\r\n0\r\n\r\n")]),
  },
  "/close-delimited": {
    head: "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nConnection: close\r\n\r\n",
    body: "until the end",
    close: true,
  },
  "/http10": { head: "HTTP/1.0 200 OK\r\nContent-Type: text/plain\r\n\r\n", body: "old style", close: true },
  "/reason": { head: "HTTP/1.1 200 Fine Thanks\r\nContent-Length: 2\r\n\r\n", body: "ok" },
  "/no-reason": { head: "HTTP/1.1 299\r\nContent-Length: 2\r\n\r\n", body: "ok" },
  "/not-found": { head: "HTTP/1.1 404 Not Found\r\nContent-Length: 4\r\n\r\n", body: "nope" },
  "/date": {
    head: "HTTP/1.1 200 OK\r\nDate: Mon, 01 Jan 2024 00:00:00 GMT\r\nContent-Length: 2\r\n\r\n",
    body: "ok",
  },
  "/hop-by-hop": {
    head:
      "HTTP/1.1 200 OK\r\nConnection: x-drop, keep-alive\r\nX-Drop: 1\r\nKeep-Alive: timeout=5\r\n" +
      "X-Keep: 2\r\nProxy-Authenticate: Basic\r\nContent-Length: 2\r\n\r\n",
    body: "ok",
  },
  "/no-content": { head: "HTTP/1.1 204 No Content\r\nX-A: 1\r\n\r\n" },
  "/not-modified": { head: 'HTTP/1.1 304 Not Modified\r\nETag: "x"\r\n\r\n' },
  "/obs-text": { head: "HTTP/1.1 200 OK\r\nX-Name: caf\xe9\r\nContent-Length: 2\r\n\r\n", body: "ok" },
  "/interim": {
    head: "HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n",
    body: "ok",
  },
  "/malformed": { head: "HTTP/1.1 200 OK\r\nBad Header\r\nContent-Length: 2\r\n\r\n", body: "ok" },
};

/** Answers each request with CANNED[path] (no body for HEAD), on keep-alive connections. */
function startRawExporter(): Promise<{ server: Server; port: number }> {
  const server = createServer((socket: Socket) => {
    let buf = Buffer.alloc(0);
    socket.on("error", () => {});
    socket.on("data", (d: Buffer) => {
      buf = Buffer.concat([buf, d]);
      for (;;) {
        const end = buf.indexOf("\r\n\r\n");
        if (end < 0) return;
        const line = buf.toString("latin1", 0, buf.indexOf("\r\n"));
        buf = buf.subarray(end + 4);
        const [method, path] = line.split(" ");
        const c = CANNED[path ?? ""] ?? { head: "HTTP/1.1 500 Unknown\r\nContent-Length: 0\r\n\r\n" };
        const body = method === "HEAD" || c.body === undefined ? Buffer.alloc(0) : Buffer.from(c.body);
        socket.write(Buffer.concat([Buffer.from(c.head, "latin1"), body]));
        if (c.close) {
          socket.end();
          return;
        }
      }
    });
  });
  return new Promise((resolve) =>
    server.listen(0, "127.0.0.1", () => {
      const addr = server.address();
      resolve({ server, port: typeof addr === "object" && addr ? addr.port : 0 });
    }),
  );
}

let sshd: Sshd;
let exporter: { server: Server; port: number };
let closed: number;
let front: RunningProxy;
let plain: RunningProxy;
let frontAuth: RunningProxy;
let plainAuth: RunningProxy;
const frontLog = memoryLogger();
const plainLog = memoryLogger();

beforeAll(async () => {
  sshd = await startSshd();
  exporter = await startRawExporter();
  closed = await closedPort();
  const { writeFileSync } = await import("node:fs");
  const pwFile = `${sshd.dir}/proxy-password`;
  writeFileSync(pwFile, "s3cret\n");
  const exact = [
    { host: "127.0.0.1", port: exporter.port },
    { host: "127.0.0.1", port: closed },
  ];
  const rt = runtimeFor(sshd, { exact });
  const rtAuth = runtimeFor(sshd, { exact, overrides: { auth: { username: "prom", passwordFile: pwFile } } });
  front = await proxyWith(true, () => startProxy(rt, { logger: frontLog.logger }));
  plain = await proxyWith(false, () => startProxy(rt, { logger: plainLog.logger }));
  frontAuth = await proxyWith(true, () => startProxy(rtAuth, { logger: frontLog.logger }));
  plainAuth = await proxyWith(false, () => startProxy(rtAuth, { logger: plainLog.logger }));
});

afterAll(async () => {
  await Promise.all([front, plain, frontAuth, plainAuth].map((p) => p?.close(500)));
  exporter?.server.close();
  await sshd?.stop();
});

const port = (p: RunningProxy) => Number(new URL(p.url).port);
/** Date carries the time of the answer: the one field allowed to differ. */
const timeless = (r: RawResponse) => undated(r.raw.toString("latin1"));

/** Sends `request` twice on one connection; returns both responses and whether the connection stayed open. */
async function twice(p: RunningProxy, request: string, head: boolean) {
  const c = await RawClient.open(port(p));
  try {
    await c.write(request);
    const first = await c.response(head);
    const again = /\r\nconnection: close\r\n/i.test(first.head)
      ? undefined
      : await c.write(request).then(() => c.response(head));
    return { first, again, localPort: c.localPort };
  } finally {
    c.destroy();
  }
}

const handOffs = () =>
  frontLog.records.filter((r) => r.msg === "front: connection handed to node:http").length;

describe("the front answers with node:http's bytes", () => {
  const paths = Object.keys(CANNED);
  for (const method of ["GET", "HEAD"]) {
    it.each(paths)(`${method} %s`, async (path) => {
      const request = `${method} http://127.0.0.1:${exporter.port}${path} HTTP/1.1\r\nHost: 127.0.0.1:${exporter.port}\r\nUser-Agent: Prometheus/2.42.0\r\nAccept: text/plain\r\nX-Prometheus-Scrape-Timeout-Seconds: 5\r\n\r\n`;
      const before = handOffs();
      const a = await twice(front, request, method === "HEAD");
      const b = await twice(plain, request, method === "HEAD");
      expect(handOffs()).toBe(before);
      expect(undated(a.first.head)).toBe(undated(b.first.head));
      // The exporter's own Date passes through unchanged, and alone (the comparisons above leave Date out).
      const exporterDate = CANNED[path]?.head.match(/\r\nDate: [^\r]*/)?.[0];
      if (exporterDate) expect(a.first.head.match(/\r\nDate: [^\r]*/gi)).toEqual([exporterDate]);
      expect(a.first.body.equals(b.first.body)).toBe(true);
      // Chunk sizes follow the reads from the channel; the rest must be the very same bytes.
      if (!a.first.chunked) expect(timeless(a.first)).toBe(timeless(b.first));
      expect(a.again === undefined).toBe(b.again === undefined);
      if (a.again && b.again) {
        expect(undated(a.again.head)).toBe(undated(b.again.head));
        expect(a.again.body.equals(b.again.body)).toBe(true);
      }
    });
  }

  it("chunked re-encoding for answers without a length, no Date, node's keep-alive lines", async () => {
    const r = await twice(
      front,
      `GET http://127.0.0.1:${exporter.port}/close-delimited HTTP/1.1\r\nHost: x\r\n\r\n`,
      false,
    );
    expect(r.first.head).toBe(
      "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nConnection: keep-alive\r\nKeep-Alive: timeout=65\r\nTransfer-Encoding: chunked\r\n\r\n",
    );
    expect(r.first.body.toString()).toBe("until the end");
    expect(r.again?.body.toString()).toBe("until the end");
  });

  const errors: Array<[string, () => string, boolean]> = [
    [
      "403, target not allowed",
      () => "GET http://127.0.0.9:1/metrics HTTP/1.1\r\nHost: 127.0.0.9:1\r\n\r\n",
      false,
    ],
    [
      "400, target not in plain form",
      () => `GET http://127.1:${exporter.port}/metrics HTTP/1.1\r\nHost: x\r\n\r\n`,
      false,
    ],
    [
      "502, nothing listens",
      () => `GET http://127.0.0.1:${closed}/metrics HTTP/1.1\r\nHost: x\r\n\r\n`,
      false,
    ],
    ["502, HEAD", () => `HEAD http://127.0.0.1:${closed}/metrics HTTP/1.1\r\nHost: x\r\n\r\n`, true],
  ];
  it.each(errors)("%s", async (_name, make, head) => {
    const request = make();
    const before = handOffs();
    const a = await twice(front, request, head);
    const b = await twice(plain, request, head);
    expect(handOffs()).toBe(before);
    expect(a.first.head).toMatch(/\r\nX-Sshscrape-Error: |\r\nx-sshscrape-error: /);
    expect(timeless(a.first)).toBe(timeless(b.first));
    expect(a.again && timeless(a.again)).toBe(b.again && timeless(b.again));
  });

  it("407 with Proxy-Authenticate, then 200 with the credentials", async () => {
    const target = `http://127.0.0.1:${exporter.port}/cl-small`;
    const none = `GET ${target} HTTP/1.1\r\nHost: x\r\n\r\n`;
    const wrong = `GET ${target} HTTP/1.1\r\nHost: x\r\nProxy-Authorization: Basic ${Buffer.from("prom:nope").toString("base64")}\r\n\r\n`;
    const right = `GET ${target} HTTP/1.1\r\nHost: x\r\nProxy-Authorization: Basic ${Buffer.from("prom:s3cret").toString("base64")}\r\n\r\n`;
    for (const request of [none, wrong, right]) {
      const a = await twice(frontAuth, request, false);
      const b = await twice(plainAuth, request, false);
      expect(timeless(a.first)).toBe(timeless(b.first));
    }
    const a = await twice(frontAuth, none, false);
    expect(a.first.status).toBe(407);
    expect(a.first.head).toContain('proxy-authenticate: Basic realm="sshscrape"');
    expect((await twice(frontAuth, right, false)).first.status).toBe(200);
  });
});

describe("the switch", () => {
  it("SSHSCRAPE_FRONT=0 leaves every connection to node:http; the default hands off only what it does not serve", async () => {
    const before = { front: handOffs(), plain: plainLog.records.length };
    for (const p of [front, plain]) {
      const c = await RawClient.open(port(p));
      await c.write(`GET /readyz HTTP/1.1\r\nHost: x\r\n\r\n`);
      expect((await c.response()).status).toBe(200);
      c.destroy();
    }
    expect(handOffs()).toBe(before.front + 1);
    expect(plainLog.records.filter((r) => r.msg === "front: connection handed to node:http")).toHaveLength(0);
  });
});
