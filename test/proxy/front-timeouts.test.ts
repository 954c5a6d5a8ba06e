/**
 * The front's connection timeouts and shutdown verbs, on an http.Server with short timeouts (the proxy's
 * are 10 s and 65 s; here 1 s and 1.5 s, read from the server as the proxy's are): a connection that never
 * sends a byte is closed quietly, an idle keep-alive connection is closed after server.keepAliveTimeout and
 * stays open before it, closeIdleConnections() closes idle front connections and leaves a busy one to finish.
 * No timing is asserted: each test waits for the close it expects.
 */
import { createServer, type Server } from "node:http";
import { afterEach, describe, expect, it } from "vitest";
import { type Front, type FrontRequest, installFront } from "../../src/proxy/front.js";
import type { FrontResponse } from "../../src/proxy/front-response.js";
import { memoryLogger } from "../helpers/proxy.js";
import { RawClient } from "../helpers/raw-http.js";

let server: Server | undefined;
afterEach(async () => {
  server?.closeAllConnections();
  await new Promise<void>((r) => (server ? server.close(() => r()) : r()));
  server = undefined;
});

/** A server whose front answers `ok` at once, or holds answers to /hold until release() is called. */
async function start(): Promise<{
  port: number;
  front: Front;
  log: ReturnType<typeof memoryLogger>;
  release: () => void;
  held: () => number;
}> {
  const log = memoryLogger();
  const held: FrontResponse[] = [];
  const s = createServer();
  s.keepAliveTimeout = 1_500;
  server = s;
  const answer = (res: FrontResponse) => {
    res.sendDate = false;
    res.writeHead(200, ["Content-Length", "2"]);
    res.end("ok");
  };
  const front = installFront({
    server: s,
    handle: (req: FrontRequest, res: FrontResponse) => {
      if (req.url.endsWith("/hold")) held.push(res);
      else answer(res);
    },
    headersTimeoutMs: 1_000,
    logger: log.logger,
  });
  await new Promise<void>((r) => s.listen(0, "127.0.0.1", r));
  const addr = s.address();
  const port = typeof addr === "object" && addr ? addr.port : 0;
  return { port, front, log, release: () => held.splice(0).forEach(answer), held: () => held.length };
}

const request = (path = "/m") => `GET http://h:1${path} HTTP/1.1\r\nHost: h:1\r\n\r\n`;

describe("front connection timeouts", () => {
  it("a connection that never sends a byte is closed quietly after the headers timeout", async () => {
    const { port, log } = await start();
    const c = await RawClient.open(port);
    await c.done;
    expect(c.pending().length).toBe(0);
    expect(log.records.map((r) => r.msg)).toContain(
      "closing a connection that sent no request within the headers timeout",
    );
  });

  it("an idle keep-alive connection is reused before server.keepAliveTimeout and closed after it", async () => {
    const { port, front } = await start();
    const c = await RawClient.open(port);
    for (let i = 0; i < 3; i++) {
      await c.write(request());
      const r = await c.response();
      expect(r.body.toString()).toBe("ok");
      expect(r.head).toContain("Keep-Alive: timeout=1\r\n");
    }
    expect(front.size()).toBe(1);
    await c.done;
    expect(c.pending().length).toBe(0);
    // The server's side of the close is its own event: wait for the front to let go of the connection.
    while (front.size() > 0) await new Promise((r) => setTimeout(r, 5));
  });

  it("closeIdleConnections() closes idle front connections; a busy one finishes its answer, closeAllConnections() ends it", async () => {
    const { port, front, release, held } = await start();
    const idle = await RawClient.open(port);
    await idle.write(request());
    await idle.response();
    const busy = await RawClient.open(port);
    await busy.write(request("/hold"));
    while (held() < 1) await new Promise((r) => setTimeout(r, 5));
    server?.closeIdleConnections();
    await idle.done;
    expect(busy.closed).toBe(false);
    release();
    expect((await busy.response()).body.toString()).toBe("ok");
    server?.closeAllConnections();
    await busy.done;
    while (front.size() > 0) await new Promise((r) => setTimeout(r, 5));
  });
});
