/**
 * A client that goes away while its response is in flight — resets, or sends FIN — releases its exchange at
 * once: the channel is closed (the exporter sees its connection close, through real sshd) well before the
 * response deadline (two minutes here), and another client's response on the same SSH connection goes on.
 * Both HTTP paths: the raw front and node:http (SSHSCRAPE_FRONT=0). node:http treats a FIN as the client
 * leaving (its socketOnEnd ends the connection; the response in flight is dropped), and the front does the
 * same (docs/proxy.md, "Failed responses"). Before, the front kept serving a half-closed client, so a
 * client that closed its socket while the exporter was slow held the exchange, its SSH channel and the
 * exporter's connection until the deadline.
 */
import type { Socket } from "node:net";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { RunningProxy } from "../../src/proxy/index.js";
import { type BothFronts, startBothFronts } from "../helpers/both-fronts.js";
import { waitFor } from "../helpers/processes.js";
import { RawClient } from "../helpers/raw-http.js";
import { numbered, type ScriptedExporter } from "../helpers/scripted-exporter.js";

let lab: BothFronts;
let exporter: ScriptedExporter;
let front: RunningProxy;
let plain: RunningProxy;
/** The exporter's connection that got the request for a path. */
const byPath = new Map<string, Socket>();

beforeAll(async () => {
  lab = await startBothFronts(
    (path, socket, n) => {
      if (!path.startsWith("/stall")) return numbered(n);
      byPath.set(path, socket);
      // "/stall-body-…": the head and a first chunk, then nothing; "/stall-…": nothing at all.
      return path.startsWith("/stall-body")
        ? "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n"
        : undefined;
    },
    { timeouts: { request: 120_000 } },
  );
  ({ exporter, front, plain } = lab);
});

afterAll(() => lab?.stop());

const sockOf = (c: RawClient) => (c as unknown as { socket: Socket }).socket;
const get = (path: string) =>
  `GET http://127.0.0.1:${exporter.port}${path} HTTP/1.1\r\nHost: 127.0.0.1:${exporter.port}\r\n\r\n`;
let seq = 0;

/** A client whose request reached the exporter (and, for "/stall-body", whose first chunk arrived). */
async function waiting(p: RunningProxy, kind: "/stall-body" | "/stall") {
  const path = `${kind}-${++seq}`;
  const c = await RawClient.open(Number(new URL(p.url).port));
  await c.write(get(path));
  await waitFor(`the exporter to get ${path}`, () => byPath.has(path));
  if (kind === "/stall-body") await waitFor("the first chunk", () => c.pending().includes("hello"));
  return { c, upstream: byPath.get(path) as Socket };
}

const cases: Array<[string, () => RunningProxy, "/stall-body" | "/stall", "reset" | "FIN"]> = [];
for (const [name, p] of [
  ["raw front", () => front],
  ["node:http (SSHSCRAPE_FRONT=0)", () => plain],
] as const)
  for (const kind of ["/stall-body", "/stall"] as const)
    for (const how of ["reset", "FIN"] as const) cases.push([name, p, kind, how]);

describe.each(cases)("%s: a client waiting on %s that leaves by %s", (_name, proxy, kind, how) => {
  it("closes its channel at once; another client's response on the same SSH connection goes on", async () => {
    const other = await waiting(proxy(), "/stall-body");
    const leaving = await waiting(proxy(), kind);
    try {
      if (how === "reset") sockOf(leaving.c).resetAndDestroy();
      else sockOf(leaving.c).end();
      await waitFor("the leaving client's exporter connection to close", () => leaving.upstream.destroyed);
      expect(other.upstream.destroyed).toBe(false);
      other.upstream.write("6\r\n world\r\n0\r\n\r\n");
      const r = await other.c.response();
      expect(r.status).toBe(200);
      expect(r.body.toString()).toBe("hello world");
      // The proxy still serves this exporter afterwards.
      await other.c.write(get("/after"));
      expect((await other.c.response()).status).toBe(200);
    } finally {
      leaving.c.destroy();
      other.c.destroy();
    }
  });
});
