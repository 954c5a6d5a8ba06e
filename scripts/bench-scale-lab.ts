/**
 * The scale benchmarks' lab: N loopback aliases served by ⌈N / 16⌉ real OpenSSH sshds that share one port
 * and one authorized key, each with its own host key (docs/benchmarks-scale.md, "How 1 000 hosts fit").
 */
import { rmSync } from "node:fs";
import { createServer, type Server } from "node:http";
import { type Sshd, startSshd } from "../test/helpers/sshd.js";

/** sshd listens on at most 16 sockets (OpenSSH sshd.c, MAX_LISTEN_SOCKS). */
export const SSHD_MAX_LISTEN = 16;

/** 127.1.0.1, 127.1.0.2, … — clear of 127.0.0.x, which the tests use. */
export const alias = (i: number) => `127.1.${Math.floor(i / 250)}.${(i % 250) + 1}`;

/**
 * The environment the NixOS module's unit gives the proxy (nix/module.nix, `Environment`): two malloc
 * arenas, and glibc's heap kept instead of trimmed and re-faulted after each scavenge (docs/benchmarks.md,
 * "Page faults per scrape"). The benchmarks run every sshscrape build with it by default, so they measure the
 * proxy as deployed; test/nix/module.test.ts holds it equal to the unit's.
 */
export const PROXY_UNIT_ENV = "MALLOC_ARENA_MAX=2 MALLOC_TRIM_THRESHOLD_=16777216 MALLOC_TOP_PAD_=4194304";

/** A proxy environment given on the command line: space-separated KEY=VALUE pairs ("" for none). */
export function parseEnv(spec: string | undefined): NodeJS.ProcessEnv {
  return Object.fromEntries(
    (spec ?? "")
      .split(" ")
      .filter(Boolean)
      .map((kv) => [kv.slice(0, kv.indexOf("=")), kv.slice(kv.indexOf("=") + 1)]),
  );
}

/** What a scale script must undo at the end, pushed as it starts things. */
export type Cleanups = Array<() => Promise<unknown> | unknown>;

/** Runs `cleanups` last-in first-out; a failing one is logged and the rest still run. */
export async function runCleanups(cleanups: Cleanups, log: (msg: string) => void): Promise<void> {
  for (const c of cleanups.reverse()) {
    try {
      await c();
    } catch (err) {
      log(`cleanup: ${(err as Error).message}`);
    }
  }
}

/**
 * Starts the sshds for aliases 0 … n-1 (`aliasOf`, bench:scale's by default) on `port`; `cleanups` gets one
 * stop function per sshd.
 */
export async function startSshds(
  n: number,
  port: number,
  cleanups: Cleanups,
  aliasOf: (i: number) => string = alias,
): Promise<Sshd[]> {
  const groups: string[][] = [];
  for (let i = 0; i < n; i += SSHD_MAX_LISTEN) {
    groups.push(Array.from({ length: Math.min(SSHD_MAX_LISTEN, n - i) }, (_, j) => aliasOf(i + j)));
  }
  const sshds: Sshd[] = [];
  // A few at a time: each start runs ssh-keygen twice and waits for the banner.
  for (let i = 0; i < groups.length; i += 8) {
    const batch = await Promise.all(
      groups.slice(i, i + 8).map((addresses) => startSshd({ addresses, port, highLimits: true })),
    );
    for (const s of batch)
      cleanups.push(async () => {
        await s.stop();
        rmSync(s.dir, { recursive: true, force: true });
      });
    sshds.push(...batch);
  }
  // One client key for all of them, as one proxy has one key for a fleet.
  const first = sshds[0] as Sshd;
  for (const s of sshds) s.setAuthorizedKeys(`${first.clientKeyPub}\n`);
  return sshds;
}

/**
 * How the lab's exporters answer:
 * - "go" (default): as node_exporter does (Go's net/http; checked against Debian's prometheus-node-exporter
 *   1.5 by test/scale/static-exporter.test.ts): no `Keep-Alive` header and idle connections kept until the
 *   client closes them (no IdleTimeout or ReadTimeout), the body chunked in 2 048-byte chunks (Go's response
 *   buffer; every node_exporter page with the default collectors is larger, gzip-compressed too), written
 *   about 4 KB at a time (Go's connection buffer). The only differences left: node:http adds
 *   `Connection: keep-alive` (HTTP/1.1's default anyway) and its writes are 4 110 bytes (two chunks) where
 *   Go's are 4 096.
 * - "node": node:http's defaults, what the lab had before: `Content-Length`, and `Keep-Alive: timeout=5` with
 *   idle connections closed after 5 s, so the proxy drops an idle channel after 4 s and opens a new one for
 *   every scrape at a 15 s interval.
 */
export type ExporterStyle = "go" | "node";
export const EXPORTER_STYLES: readonly ExporterStyle[] = ["go", "node"];

/** Go's net/http chunk size for a body that does not fit its 2 KB response buffer. */
export const GO_CHUNK_BYTES = 2048;

/**
 * An exporter on 127.0.0.1 that serves `body` as a Prometheus text page, gzip-compressed (`gz`) when the
 * client asks for it, as node_exporter does; `style` above.
 */
export async function startStaticExporter(
  body: Buffer,
  gz: Buffer,
  style: ExporterStyle = "go",
): Promise<{ port: number; server: Server }> {
  const server = createServer((req, res) => {
    const gzip = /\bgzip\b/.test(req.headers["accept-encoding"] ?? "");
    const payload = gzip ? gz : body;
    const headers = {
      "content-type": "text/plain; version=0.0.4; charset=utf-8",
      ...(gzip ? { "content-encoding": "gzip" } : {}),
    };
    if (style === "node") {
      res.writeHead(200, { ...headers, "content-length": payload.length });
      res.end(payload);
      return;
    }
    if (payload.length <= GO_CHUNK_BYTES) {
      // Go sets Content-Length when the whole body fits its buffer before the handler returns.
      res.writeHead(200, { ...headers, "content-length": payload.length });
      res.end(payload);
      return;
    }
    res.writeHead(200, headers);
    for (let i = 0; i < payload.length; i += 2 * GO_CHUNK_BYTES) {
      res.cork();
      res.write(payload.subarray(i, i + GO_CHUNK_BYTES));
      if (i + GO_CHUNK_BYTES < payload.length)
        res.write(payload.subarray(i + GO_CHUNK_BYTES, i + 2 * GO_CHUNK_BYTES));
      res.uncork();
    }
    res.end();
  });
  if (style === "go") server.keepAliveTimeout = 0;
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const addr = server.address();
  return { port: typeof addr === "object" && addr ? addr.port : 0, server };
}
