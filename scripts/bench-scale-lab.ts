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
 * Starts the sshds for aliases 0 … n-1 (`aliasOf`, bench:scale's by default) on `port`; `cleanups` gets one
 * stop function per sshd.
 */
export async function startSshds(
  n: number,
  port: number,
  cleanups: Array<() => Promise<unknown> | unknown>,
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
 * An exporter on 127.0.0.1 that serves `body` as a Prometheus text page, gzip-compressed (`gz`) when the
 * client asks for it, as node_exporter does.
 */
export async function startStaticExporter(
  body: Buffer,
  gz: Buffer,
): Promise<{ port: number; server: Server }> {
  const server = createServer((req, res) => {
    const gzip = /\bgzip\b/.test(req.headers["accept-encoding"] ?? "");
    const payload = gzip ? gz : body;
    res.writeHead(200, {
      "content-type": "text/plain; version=0.0.4; charset=utf-8",
      "content-length": payload.length,
      ...(gzip ? { "content-encoding": "gzip" } : {}),
    });
    res.end(payload);
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const addr = server.address();
  return { port: typeof addr === "object" && addr ? addr.port : 0, server };
}
