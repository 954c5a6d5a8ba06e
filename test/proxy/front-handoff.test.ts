/**
 * The raw front's hand-off to node:http, against a real sshd and an exporter that names the request it
 * answers (helpers/logging-exporter.ts): whatever the front does not serve itself goes to node:http with
 * every byte in its place, on the same connection, and node:http's own limits (431, 408, the quiet close of a
 * connection that never sent a byte) still apply. Pipelined requests are answered in order; idle
 * connections close at shutdown while a busy one finishes its answer.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type RunningProxy, startProxy } from "../../src/proxy/index.js";
import { answerFor, type LoggingExporter, startLoggingExporter } from "../helpers/logging-exporter.js";
import { memoryLogger, runtimeFor } from "../helpers/proxy.js";
import { RawClient } from "../helpers/raw-http.js";
import { type Sshd, startSshd } from "../helpers/sshd.js";

let sshd: Sshd;
let exporter: LoggingExporter;
let proxy: RunningProxy;
const log = memoryLogger();
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

beforeAll(async () => {
  delete process.env.SSHSCRAPE_FRONT;
  sshd = await startSshd();
  exporter = await startLoggingExporter();
  proxy = await startProxy(
    runtimeFor(sshd, {
      exact: [{ host: "127.0.0.1", port: exporter.port }],
      overrides: { extraMethods: new Map([[`127.0.0.1:${exporter.port}`, new Set(["POST"])]]) },
    }),
    { logger: log.logger },
  );
});

afterAll(async () => {
  await proxy?.close(500);
  await exporter?.close();
  await sshd?.stop();
});

const port = () => Number(new URL(proxy.url).port);
const target = (path: string) => `http://127.0.0.1:${exporter.port}${path}`;
const get = (path: string, method = "GET") =>
  `${method} ${target(path)} HTTP/1.1\r\nHost: 127.0.0.1:${exporter.port}\r\nUser-Agent: Prometheus/2.42.0\r\n\r\n`;
const handOffs = () => log.records.filter((r) => r.msg === "front: connection handed to node:http").length;
const clientErrors = () => log.records.filter((r) => Number(r.level) >= 40).length;

describe("hand-off to node:http on the same connection", () => {
  const after: Array<[string, () => string, number, string]> = [
    [
      "POST with a body",
      () =>
        `POST ${target("/post")} HTTP/1.1\r\nHost: x\r\nContent-Type: text/plain\r\nContent-Length: 5\r\n\r\nhello`,
      200,
      answerFor("POST", "/post"),
    ],
    ["an admin request", () => "GET /readyz HTTP/1.1\r\nHost: x\r\n\r\n", 200, ""],
    [
      "a GET with Content-Length: 0",
      () => `${get("/cl0").slice(0, -2)}Content-Length: 0\r\n\r\n`,
      200,
      answerFor("GET", "/cl0"),
    ],
    [
      "an HTTP/1.0 GET",
      () => `GET ${target("/old")} HTTP/1.0\r\nHost: x\r\n\r\n`,
      200,
      answerFor("GET", "/old"),
    ],
    [
      "a GET with Connection: close",
      () => `${get("/bye").slice(0, -2)}Connection: close\r\n\r\n`,
      200,
      answerFor("GET", "/bye"),
    ],
  ];
  it.each(after)("%s after two fast-path requests", async (_name, make, status, body) => {
    const c = await RawClient.open(port());
    const before = handOffs();
    try {
      for (const p of ["/one", "/two"]) {
        await c.write(get(p));
        const r = await c.response();
        expect(r.body.toString()).toBe(answerFor("GET", p));
      }
      expect(handOffs()).toBe(before);
      await c.write(make());
      const r = await c.response();
      expect(r.status).toBe(status);
      if (body) expect(r.body.toString()).toBe(body);
      expect(handOffs()).toBe(before + 1);
      if (/connection: close/i.test(r.head)) {
        await c.done;
        return;
      }
      // node:http keeps serving the connection, fast-path requests included.
      await c.write(get("/three"));
      expect((await c.response()).body.toString()).toBe(answerFor("GET", "/three"));
      expect(c.closed).toBe(false);
    } finally {
      c.destroy();
    }
  });

  it("CONNECT after a fast-path request: the tunnel carries the bytes that follow", async () => {
    const c = await RawClient.open(port());
    try {
      await c.write(get("/before"));
      expect((await c.response()).body.toString()).toBe(answerFor("GET", "/before"));
      await c.write(
        `CONNECT 127.0.0.1:${exporter.port} HTTP/1.1\r\nHost: 127.0.0.1:${exporter.port}\r\n\r\n`,
      );
      const established = await new Promise<string>((resolve) => {
        const poll = () => {
          const text = c.pending().toString("latin1");
          if (text.includes("\r\n\r\n")) resolve(text);
          else setTimeout(poll, 5);
        };
        poll();
      });
      expect(established).toMatch(/^HTTP\/1\.1 200 /);
      // Consume the 200 line, then speak to the exporter through the tunnel.
      await c.response(true);
      await c.write("GET /inside HTTP/1.1\r\nHost: x\r\n\r\n");
      expect((await c.response()).body.toString()).toBe(answerFor("GET", "/inside"));
    } finally {
      c.destroy();
    }
  });
});

describe("bytes in order across the hand-off", () => {
  const request = () => get("/split");

  it("a head split at every byte offset is answered as one request", async () => {
    const whole = request();
    for (let i = 1; i < whole.length; i++) {
      const c = await RawClient.open(port());
      try {
        await c.write(whole.slice(0, i));
        await sleep(2); // separate segments, so the proxy reads the first part on its own
        await c.write(whole.slice(i));
        const r = await c.response();
        expect(r.status, `split at ${i}`).toBe(200);
        expect(r.body.toString(), `split at ${i}`).toBe(answerFor("GET", "/split"));
      } finally {
        c.destroy();
      }
    }
  });

  it("the second request split at every byte offset, after a fast-path answer", async () => {
    const whole = request();
    for (let i = 1; i < whole.length; i += 7) {
      const c = await RawClient.open(port());
      try {
        await c.write(get("/first") + whole.slice(0, i));
        expect((await c.response()).body.toString()).toBe(answerFor("GET", "/first"));
        await c.write(whole.slice(i));
        const r = await c.response();
        expect(r.body.toString(), `split at ${i}`).toBe(answerFor("GET", "/split"));
      } finally {
        c.destroy();
      }
    }
  });

  it("pipelined requests are answered in order, one at a time, across a hand-off in the middle", async () => {
    const c = await RawClient.open(port());
    try {
      const post = `POST ${target("/p")} HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n\r\nabc`;
      await c.write(get("/slow-1") + get("/h", "HEAD") + get("/slow-2") + post + get("/last"));
      expect((await c.response()).body.toString()).toBe(answerFor("GET", "/slow-1"));
      const head = await c.response(true);
      expect(head.status).toBe(200);
      expect(head.head).toMatch(/content-length: 18\r\n/i);
      expect((await c.response()).body.toString()).toBe(answerFor("GET", "/slow-2"));
      expect((await c.response()).body.toString()).toBe(answerFor("POST", "/p"));
      expect((await c.response()).body.toString()).toBe(answerFor("GET", "/last"));
      const seen = exporter.seen.map((s) => s.path);
      const at = seen.lastIndexOf("/slow-1");
      expect(seen.slice(at, at + 5)).toEqual(["/slow-1", "/h", "/slow-2", "/p", "/last"]);
    } finally {
      c.destroy();
    }
  });
});

describe("node:http's limits still apply", () => {
  it("a head over 16 KB is answered 431; one between the front's 8 KB and 16 KB is served", async () => {
    const c = await RawClient.open(port());
    try {
      await c.write(`${get("/big").slice(0, -2)}X-Pad: ${"a".repeat(10_000)}\r\n\r\n`);
      expect((await c.response()).body.toString()).toBe(answerFor("GET", "/big"));
    } finally {
      c.destroy();
    }
    const d = await RawClient.open(port());
    try {
      await d.write(`${get("/huge").slice(0, -2)}X-Pad: ${"a".repeat(20_000)}\r\n\r\n`);
      const r = await d.response();
      expect(r.status).toBe(431);
      expect(r.head).toMatch(/X-Sshscrape-Error: /);
    } finally {
      d.destroy();
    }
  });

  it("a head not complete within the headers timeout gets 408; a connection that never sends a byte is closed quietly", async () => {
    const warnings = clientErrors();
    const slow = await RawClient.open(port());
    const silent = await RawClient.open(port());
    await slow.write(get("/never").slice(0, 20));
    const r = await slow.response();
    expect(r.status).toBe(408);
    await silent.done;
    expect(silent.pending().length).toBe(0);
    // The 408 is a client error worth a log line; the silent connection is not.
    expect(clientErrors() - warnings).toBeLessThanOrEqual(1);
    slow.destroy();
  }, 30_000);
});

describe("graceful shutdown", () => {
  it("idle front connections are closed, a busy one finishes its answer", async () => {
    const own = await startProxy(runtimeFor(sshd, { exact: [{ host: "127.0.0.1", port: exporter.port }] }), {
      logger: memoryLogger().logger,
    });
    const p = Number(new URL(own.url).port);
    const idle = await RawClient.open(p);
    const busy = await RawClient.open(p);
    await idle.write(get("/idle"));
    expect((await idle.response()).status).toBe(200);
    await busy.write(get("/slow-busy"));
    // Wait until the proxy has the request (the exporter saw it), then stop.
    while (!exporter.seen.some((s) => s.path === "/slow-busy")) await sleep(5);
    const closing = own.close(5_000);
    await idle.done;
    const r = await busy.response();
    expect(r.body.toString()).toBe(answerFor("GET", "/slow-busy"));
    await closing;
    await busy.done;
  });
});
