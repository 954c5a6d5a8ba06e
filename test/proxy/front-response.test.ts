/**
 * FrontResponse (src/proxy/front-response.ts) against ServerResponse for the answers the proxied path never
 * produces on the front in practice but must still get right: the error writer's answers that close the
 * connection (405 with Allow, 400 framing), a non-ASCII message, chunked writes ended with a body. Both
 * sides run the same calls on a real socket; the bytes must match (Date aside) and both connections must be
 * closed by the server when the answer says `Connection: close`.
 */
import { createServer as createHttp, type ServerResponse } from "node:http";
import { createServer as createNet, type Server, type Socket } from "node:net";
import { afterEach, describe, expect, it } from "vitest";
import { sendError } from "../../src/proxy/error-writers.js";
import { FramingError, MethodNotAllowedError } from "../../src/proxy/errors.js";
import type { ResponseSink } from "../../src/proxy/exchange.js";
import { FrontResponse } from "../../src/proxy/front-response.js";
import { RawClient, undated } from "../helpers/raw-http.js";

const servers: Server[] = [];
afterEach(() => {
  for (const s of servers.splice(0)) s.close();
});

function listen(server: Server): Promise<number> {
  servers.push(server);
  return new Promise((resolve) =>
    server.listen(0, "127.0.0.1", () => {
      const a = server.address();
      resolve(typeof a === "object" && a ? a.port : 0);
    }),
  );
}

/** Runs `answer` on a node:http ServerResponse and on a FrontResponse; returns what each client received. */
async function both(answer: (res: ResponseSink) => void, head = false) {
  const node = createHttp({ keepAliveTimeout: 65_000 }, (_req, res: ServerResponse) => answer(res));
  node.keepAliveTimeout = 65_000;
  const front = createNet((socket: Socket) => {
    socket.once("data", () => {
      const res = new FrontResponse(socket, { finished: (_r, last) => last && socket.end() }, head, 65_000);
      answer(res);
    });
  });
  const request = `${head ? "HEAD" : "GET"} http://h:1/ HTTP/1.1\r\nHost: h\r\n\r\n`;
  const out: Array<{ text: string; closed: boolean }> = [];
  for (const port of [await listen(node), await listen(front)]) {
    const c = await RawClient.open(port);
    await c.write(request);
    const r = await c.response(head);
    // An answer that says Connection: close must be followed by the close (the test times out otherwise).
    if (/\r\nconnection: close\r\n/i.test(r.head)) await c.done;
    out.push({
      text: undated(r.raw.toString("latin1")),
      closed: c.closed,
    });
    c.destroy();
  }
  return { node: out[0], front: out[1] };
}

describe("FrontResponse writes ServerResponse's bytes", () => {
  it("405 with Allow and Connection: close, then the connection is closed", async () => {
    const { node, front } = await both((res) =>
      sendError(res, new MethodNotAllowedError("PUT", ["GET", "HEAD"])),
    );
    expect(front).toEqual(node);
    expect(front?.text).toMatch(/\r\nallow: GET, HEAD\r\nconnection: close\r\n/);
    expect(front?.closed).toBe(true);
  });

  it("400 framing error to a HEAD request: the head only, then closed", async () => {
    const { node, front } = await both((res) => sendError(res, new FramingError("two Host fields")), true);
    expect(front).toEqual(node);
    expect(front?.closed).toBe(true);
  });

  it("a message outside ASCII is sent as UTF-8 with its byte length", async () => {
    const { node, front } = await both((res) => sendError(res, new FramingError("naïve → wrong")));
    expect(front?.text).toBe(node?.text);
  });

  it("chunked writes, then end with a body", async () => {
    const { node, front } = await both((res) => {
      res.writeHead(200, "Fine", ["X-A", "1"]);
      res.write(Buffer.from("abc"));
      res.write(Buffer.from("defgh"));
      res.end("tail");
    });
    expect(front).toEqual(node);
    expect(front?.text).toContain(
      "Transfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n5\r\ndefgh\r\n4\r\ntail\r\n0\r\n\r\n",
    );
    expect(front?.closed).toBe(false);
  });
});
