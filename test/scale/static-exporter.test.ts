/**
 * The scale lab's static exporters (scripts/bench-scale-lab.ts) must answer as node_exporter does, or the
 * lab measures a proxy that reopens a channel per scrape where a real fleet would reuse one. Compared here
 * with Debian's real prometheus-node-exporter on the wire: header fields, framing (chunk sizes) and what
 * happens to an idle keep-alive connection. Not covered: the exact write sizes (Go writes 4 096-byte pieces,
 * the lab 4 110) and idle times beyond a few seconds (checked by hand: Go's connection stayed open for 130 s).
 */
import { connect, type Socket } from "node:net";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { GO_CHUNK_BYTES, startStaticExporter } from "../../scripts/bench-scale-lab.js";
import { metricsBody } from "../helpers/exporter.js";
import { type NodeExporter, startNodeExporter } from "../helpers/node-exporter.js";

interface Answer {
  status: string;
  headers: Map<string, string>;
  chunks: number[];
  contentLength?: number;
}

/** One raw HTTP/1.1 exchange on `socket`: the head, and the chunk sizes of a chunked body. */
function exchange(socket: Socket, gzip: boolean): Promise<Answer> {
  return new Promise((resolve, reject) => {
    let buf = Buffer.alloc(0);
    const onData = (d: Buffer) => {
      buf = Buffer.concat([buf, d]);
      const end = buf.indexOf("\r\n\r\n");
      if (end < 0) return;
      const [status = "", ...lines] = buf.subarray(0, end).toString("latin1").split("\r\n");
      const headers = new Map(
        lines.map((l) => [l.slice(0, l.indexOf(":")).toLowerCase(), l.slice(l.indexOf(":") + 1).trim()]),
      );
      const body = buf.subarray(end + 4);
      const cl = headers.get("content-length");
      if (cl !== undefined) {
        if (body.length < Number(cl)) return;
        done({ status, headers, chunks: [], contentLength: Number(cl) });
        return;
      }
      const chunks: number[] = [];
      let i = 0;
      for (;;) {
        const eol = body.indexOf("\r\n", i);
        if (eol < 0) return;
        const n = Number.parseInt(body.subarray(i, eol).toString(), 16);
        if (body.length < eol + 2 + n + 2) return;
        chunks.push(n);
        i = eol + 2 + n + 2;
        if (n === 0) break;
      }
      done({ status, headers, chunks });
    };
    const done = (a: Answer) => {
      socket.off("data", onData);
      socket.off("error", reject);
      resolve(a);
    };
    socket.on("data", onData);
    socket.on("error", reject);
    socket.write(
      `GET /metrics HTTP/1.1\r\nHost: x\r\nUser-Agent: Prometheus/2.42.0\r\n${gzip ? "Accept-Encoding: gzip\r\n" : ""}\r\n`,
    );
  });
}

const open = (port: number) =>
  new Promise<Socket>((resolve, reject) => {
    const s = connect(port, "127.0.0.1", () => resolve(s));
    s.on("error", reject);
  });

describe("the scale lab's exporters answer like node_exporter", () => {
  let real: NodeExporter;
  beforeAll(async () => {
    real = await startNodeExporter();
  });
  afterAll(async () => {
    await real?.stop();
  });

  it("same header fields, no Keep-Alive, the body in 2 KiB chunks", async () => {
    const body = metricsBody(56 * 1024);
    const lab = await startStaticExporter(body, Buffer.from(body.subarray(0, 9 * 1024)));
    try {
      const theirs = await exchange(await open(real.port), false);
      const ours = await exchange(await open(lab.port), false);
      // Both bodies are larger than Go's 2 KB buffer here: chunked, every chunk 2 048 bytes but the last.
      expect(theirs.chunks.length).toBeGreaterThan(2);
      for (const a of [theirs, ours]) {
        expect(a.status).toBe("HTTP/1.1 200 OK");
        expect(a.contentLength).toBeUndefined();
        expect(a.headers.get("transfer-encoding")).toBe("chunked");
        expect(a.chunks.slice(0, -2).every((n) => n === GO_CHUNK_BYTES)).toBe(true);
        expect(a.chunks.at(-1)).toBe(0);
        expect(a.headers.has("keep-alive")).toBe(false);
      }
      // node:http adds Connection: keep-alive (HTTP/1.1's default; Go sends none): the one difference.
      const names = (a: Answer) => [...a.headers.keys()].filter((k) => k !== "connection").sort();
      expect(names(ours)).toEqual(names(theirs));
      expect(ours.headers.get("content-type")).toBe(theirs.headers.get("content-type"));
      expect(ours.chunks.slice(0, -1).reduce((a, b) => a + b, 0)).toBe(body.length);

      const gz = await exchange(await open(lab.port), true);
      expect(gz.headers.get("content-encoding")).toBe("gzip");
      expect(gz.chunks).toEqual([2048, 2048, 2048, 2048, 1024, 0]);
    } finally {
      await new Promise((r) => lab.server.close(r));
    }
  });

  it("keeps an idle connection past node:http's keep-alive timeout, as node_exporter does", async () => {
    const body = metricsBody(8 * 1024);
    const lab = await startStaticExporter(body, body);
    const old = await startStaticExporter(body, body, "node");
    try {
      const sockets = await Promise.all([open(real.port), open(lab.port), open(old.port)]);
      const closed = sockets.map(() => false);
      for (const [i, s] of sockets.entries())
        s.on("close", () => {
          closed[i] = true;
        });
      const firsts = await Promise.all(sockets.map((s) => exchange(s, false)));
      expect(firsts[2]?.headers.get("keep-alive")).toBe("timeout=5");
      // node:http closes an idle connection ~1 s after its keepAliveTimeout (6.0 s here with the default 5 s).
      await new Promise((r) => setTimeout(r, 7_500));
      // node_exporter and the lab keep theirs; node:http's defaults (the lab before) closed it.
      expect(closed).toEqual([false, false, true]);
      const again = await Promise.all(sockets.slice(0, 2).map((s) => exchange(s, false)));
      for (const a of again) expect(a.status).toBe("HTTP/1.1 200 OK");
      for (const s of sockets) s.destroy();
    } finally {
      await Promise.all([lab, old].map((e) => new Promise((r) => e.server.close(r))));
    }
  });
});
