/**
 * Review of round 5 (docs/proxy.md, "Failed responses"): the raw front and node:http (SSHSCRAPE_FRONT=0) send
 * the same bytes for the responses the deferred head touches, each followed on the same connection by a
 * request that must still be answered (keep-alive after a 502; a failed channel is never reused): bodiless
 * answers (HEAD, 204, 304, Content-Length: 0, an empty chunked body, trailers), 1xx interim responses before
 * the final head, a head split across SSH packets or cut by the exporter's close, and bodies exactly at
 * proxy.maxResponseBytes and one byte over it (Content-Length, chunked, close-delimited). Also a client that
 * half-closes right after its request (`printf … | nc -q0`): node:http ends such a connection without an
 * answer (its socketOnEnd), and the front must do the same. Real sshd, an exporter scripted byte for byte.
 */
import type { Socket } from "node:net";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { RunningProxy } from "../../src/proxy/index.js";
import { type BothFronts, startBothFronts } from "../helpers/both-fronts.js";
import { parseResponse, RawClient, undated } from "../helpers/raw-http.js";
import type { ScriptedExporter } from "../helpers/scripted-exporter.js";

const LIMIT = 100;
const chunk = (n: number, c: string) => `${n.toString(16)}\r\n${c.repeat(n)}\r\n`;
const OK = "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok";
/** Each path's answer; "<close>" closes the exporter's connection after it. */
const S: Record<string, string | ((s: Socket) => undefined)> = {
  "/cl-eq": `HTTP/1.1 200 OK\r\nContent-Length: ${LIMIT}\r\n\r\n${"x".repeat(LIMIT)}`,
  "/cl-over": `HTTP/1.1 200 OK\r\nContent-Length: ${LIMIT + 1}\r\n\r\n${"x".repeat(LIMIT + 1)}`,
  "/ch-eq": `HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n${chunk(LIMIT, "x")}0\r\n\r\n`,
  "/ch-over": `HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n${chunk(LIMIT + 1, "x")}0\r\n\r\n`,
  "/close-eq": `HTTP/1.1 200 OK\r\nConnection: close\r\n\r\n${"x".repeat(LIMIT)}<close>`,
  "/close-over": `HTTP/1.1 200 OK\r\nConnection: close\r\n\r\n${"x".repeat(LIMIT + 1)}<close>`,
  "/trailers":
    "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nTrailer: X-T\r\n\r\n2\r\nok\r\n0\r\nX-T: 1\r\n\r\n",
  "/empty-chunked": "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
  "/empty-chunked-trailers": "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n0\r\nX-T: 1\r\n\r\n",
  "/cl0": "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n",
  "/204": "HTTP/1.1 204 No Content\r\n\r\n",
  "/304": 'HTTP/1.1 304 Not Modified\r\nETag: "x"\r\n\r\n',
  "/103": `HTTP/1.1 103 Early Hints\r\nLink: </a>\r\n\r\n${OK}`,
  "/103-then-close": "HTTP/1.1 103 Early Hints\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n<close>",
  "/100-head-cut": "HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\nContent-Le<close>",
  "/head-cut": "HTTP/1.1 200 OK\r\nContent-Le<close>",
  // The head in two SSH packets, the body in a third: each written once the previous one left the exporter.
  "/split": (s) => {
    s.write("HTTP/1.1 200 OK\r\nContent-", () =>
      setImmediate(() => s.write("Length: 2\r\n\r\n", () => setImmediate(() => s.write("ok")))),
    );
    return undefined;
  },
};

let lab: BothFronts;
let exporter: ScriptedExporter;
let front: RunningProxy;
let plain: RunningProxy;

beforeAll(async () => {
  lab = await startBothFronts(
    (path, socket) => {
      const a = S[path] ?? OK;
      return typeof a === "function" ? a(socket) : a;
    },
    { overrides: { maxResponseBytes: LIMIT } },
  );
  ({ exporter, front, plain } = lab);
});

afterAll(() => lab?.stop());

const req = (m: string, path: string) =>
  `${m} http://127.0.0.1:${exporter.port}${path} HTTP/1.1\r\nHost: 127.0.0.1:${exporter.port}\r\n\r\n`;

/** The bytes of two responses (`m path`, then `GET /ok`) on one connection, or all until it closed. */
async function twoAnswers(p: RunningProxy, m: string, path: string): Promise<string> {
  const c = await RawClient.open(Number(new URL(p.url).port));
  try {
    await c.write(req(m, path) + req("GET", "/ok"));
    const first = await c.response(m === "HEAD");
    const second = await c.response();
    return undated(first.raw.toString("latin1") + second.raw.toString("latin1"));
  } catch {
    await c.done;
    return undated(c.pending().toString("latin1"));
  } finally {
    c.destroy();
  }
}

const cases = Object.keys(S).flatMap((path) => [
  ["GET", path],
  ["HEAD", path],
]);

describe.each(cases)("%s %s, then GET /ok on the same connection", (m, path) => {
  it("is answered byte for byte the same by both fronts, and /ok after it", async () => {
    const a = await twoAnswers(front, m as string, path as string);
    const b = await twoAnswers(plain, m as string, path as string);
    expect(a).toBe(b);
    expect(a).toMatch(/\r\n\r\nok$/);
    if (m === "GET" && /-over$/.test(path as string))
      expect(a).toMatch(/^HTTP\/1\.1 502 [\s\S]*RESPONSE_TOO_LARGE/);
    if (m === "GET" && /-eq$/.test(path as string)) expect(a).toMatch(/^HTTP\/1\.1 200 [\s\S]*x{100}/);
  });
});

describe("a client that half-closes right after its request", () => {
  it.each([
    ["the request and its FIN in one segment", (s: Socket) => s.end(req("GET", "/ok"))],
    ["two pipelined requests and a FIN", (s: Socket) => s.end(req("GET", "/ok") + req("GET", "/ok"))],
  ])("%s: both fronts close the connection alike", async (_name, send) => {
    const seen: string[] = [];
    for (const p of [front, plain]) {
      const c = await RawClient.open(Number(new URL(p.url).port));
      send((c as unknown as { socket: Socket }).socket);
      await c.done;
      seen.push(c.pending().toString("latin1"));
      expect(parseResponse(c.pending(), false, true)).toBeUndefined();
    }
    expect(seen[0]).toBe(seen[1]);
  });
});
