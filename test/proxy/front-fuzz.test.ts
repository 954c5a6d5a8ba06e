/**
 * A hostile client on the proxy port, by mutation: 400 connections, each sending a request the proxy knows
 * (a scrape, a pipelined pair, HEAD, CONNECT with a tunnelled request, a chunked or Content-Length body, an
 * origin-form request, the admin paths, a target outside the allowlist, one whose host key is unknown) with
 * bytes flipped, inserted, cut or repeated, written in random pieces, the connection sometimes half-closed or
 * reset early. Real sshd and exporter; the seed is fixed, so a failure reproduces.
 *
 * What must hold whatever arrives: every answer starts with an HTTP/1.x status line (or there is none, when
 * the client left first or its head never ended); no unhandled error in the process (vitest fails the run on
 * one); once the clients are gone, no connection to the proxy is left open and no SSH channel beyond the idle
 * one; and the proxy still serves a scrape whole and answers /readyz. The hand-written edge cases, and what
 * reaches the exporter, are test/proxy/front-audit.test.ts's; 10 000 requests that are all malformed, with
 * RSS and a canary port watched, are the fault matrix's row 8 (scripts/faults/rows/fuzz.ts, in `npm run
 * test:faults`). Here the requests are mutations of valid ones, often still valid (scrapes, CONNECT tunnels,
 * admin paths), written in pieces and sometimes cut off by a reset, and what is checked is that nothing of
 * them is left behind.
 */
import { connect } from "node:net";
import { afterAll, beforeAll, expect, it } from "vitest";
import { rng } from "../../scripts/faults/fuzz.js";
import { type RunningProxy, startProxy } from "../../src/proxy/index.js";
import { type Exporter, metricsBody, startExporter } from "../helpers/exporter.js";
import { waitFor } from "../helpers/processes.js";
import { memoryLogger, metricValue, proxySocketStates, runtimeFor, viaProxy } from "../helpers/proxy.js";
import { type Sshd, startSshd } from "../helpers/sshd.js";

const CONNECTIONS = 400;
const PARALLEL = 20;
/** How long a client waits for the end of an answer before it gives up and resets. */
const PATIENCE_MS = 400;

let sshd: Sshd;
let exporter: Exporter;
let proxy: RunningProxy;
const body = metricsBody(20_000);
const log = memoryLogger("warn");

beforeAll(async () => {
  exporter = await startExporter({ body });
  sshd = await startSshd({ permitOpen: [exporter.port] });
  proxy = await startProxy(
    runtimeFor(sshd, {
      exact: [
        { host: "127.0.0.1", port: exporter.port },
        // Allowed, but not in known_hosts: refused at the host key.
        { host: "localhost", port: exporter.port },
      ],
    }),
    { logger: log.logger },
  );
});

afterAll(async () => {
  await proxy?.close();
  await sshd?.stop();
  await exporter?.close();
});

function seeds(port: number): string[] {
  const t = `127.0.0.1:${port}`;
  return [
    `GET http://${t}/metrics HTTP/1.1\r\nHost: ${t}\r\n\r\n`,
    `GET http://${t}/metrics HTTP/1.1\r\nHost: ${t}\r\nAccept-Encoding: gzip\r\n\r\nGET http://${t}/metrics HTTP/1.1\r\nHost: ${t}\r\n\r\n`,
    `HEAD http://${t}/metrics HTTP/1.0\r\n\r\n`,
    `CONNECT ${t} HTTP/1.1\r\nHost: ${t}\r\n\r\nGET /metrics HTTP/1.1\r\nHost: x\r\n\r\n`,
    `POST http://${t}/metrics HTTP/1.1\r\nHost: ${t}\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n`,
    `GET http://${t}/metrics HTTP/1.1\r\nHost: ${t}\r\nContent-Length: 5\r\n\r\nhello`,
    `GET /metrics HTTP/1.1\r\nHost: ${t}\r\n\r\n`,
    `GET http://localhost:${port}/metrics HTTP/1.1\r\nHost: localhost\r\nProxy-Authorization: Basic Zm9vOmJhcg==\r\n\r\n`,
    `GET http://127.0.0.2:${port}/metrics HTTP/1.1\r\nHost: x\r\n\r\n`,
    `GET http://[::1]:${port}/metrics HTTP/1.1\r\nHost: x\r\n\r\n`,
    "GET /readyz HTTP/1.1\r\nHost: x\r\n\r\n",
    "GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n",
    "GET /targets HTTP/1.1\r\nHost: x\r\n\r\n",
    "GET /sd HTTP/1.1\r\nHost: x\r\n\r\n",
  ];
}

const JUNK = [
  "\r\n",
  "\n",
  " ",
  ":",
  "\0",
  "\x7f",
  "\xff",
  "%00",
  "?",
  "#",
  "@",
  "[",
  "Transfer-Encoding: chunked\r\n",
  "Content-Length: 99999999999999999999\r\n",
  "Content-Length: -1\r\n",
  "Host: \r\n",
  "Expect: 100-continue\r\n",
  "Upgrade: websocket\r\nConnection: upgrade\r\n",
  "Connection: close\r\n",
  "\t",
  "HTTP/2.0",
  "HTTP/0.9",
  "x".repeat(70_000),
  "a: b\r\n".repeat(300),
];

function pick<T>(list: T[], random: () => number): T {
  return list[Math.floor(random() * list.length)] as T;
}

/** One to four edits of `text`: insert junk or another seed, overwrite a byte, cut, repeat a prefix, delete. */
function mutate(text: string, random: () => number, others: string[]): Buffer {
  let b = Buffer.from(text, "latin1");
  const edits = 1 + Math.floor(random() * 4);
  for (let i = 0; i < edits; i++) {
    const at = Math.floor(random() * (b.length + 1));
    const op = Math.floor(random() * 6);
    if (op === 0)
      b = Buffer.concat([b.subarray(0, at), Buffer.from(pick(JUNK, random), "latin1"), b.subarray(at)]);
    else if (op === 1 && b.length > 0) b[Math.min(at, b.length - 1)] = Math.floor(random() * 256);
    else if (op === 2) b = b.subarray(0, at);
    else if (op === 3) b = Buffer.concat([b, b.subarray(0, at)]);
    else if (op === 4) b = Buffer.concat([b.subarray(0, at), b.subarray(at + 1 + Math.floor(random() * 10))]);
    else b = Buffer.concat([b.subarray(0, at), Buffer.from(pick(others, random), "latin1"), b.subarray(at)]);
  }
  return b;
}

/** Sends `bytes` in random pieces, maybe ends or resets early; resolves with what came back. */
function send(port: number, bytes: Buffer, random: () => number): Promise<Buffer> {
  const ending = random();
  const pieces: Buffer[] = [];
  for (let off = 0; off < bytes.length; ) {
    const n = 1 + Math.floor(random() * Math.max(1, bytes.length / 3));
    pieces.push(bytes.subarray(off, off + n));
    off += n;
  }
  const pauses = pieces.map(() => (random() < 0.3 ? Math.floor(random() * 5) : 0));
  return new Promise((resolve) => {
    const sock = connect({ host: "127.0.0.1", port });
    const got: Buffer[] = [];
    const done = () => {
      clearTimeout(timer);
      sock.destroy();
      resolve(Buffer.concat(got));
    };
    const timer = setTimeout(done, PATIENCE_MS);
    sock.on("data", (d: Buffer) => got.push(d));
    sock.on("error", () => {});
    sock.on("close", done);
    sock.on("connect", async () => {
      for (const [i, piece] of pieces.entries()) {
        if (sock.destroyed) return;
        sock.write(piece);
        if (pauses[i]) await new Promise((r) => setTimeout(r, pauses[i]));
      }
      if (ending < 0.2) sock.end();
      else if (ending < 0.3) sock.destroy();
    });
  });
}

it(`stays well-formed, leak-free and serving through ${CONNECTIONS} mutated requests`, async () => {
  const port = Number(new URL(proxy.url).port);
  const random = rng(20261201);
  const known = seeds(exporter.port);
  const statuses = new Map<string, number>();
  for (let done = 0; done < CONNECTIONS; done += PARALLEL) {
    const answers = await Promise.all(
      Array.from({ length: PARALLEL }, () => send(port, mutate(pick(known, random), random, known), random)),
    );
    for (const a of answers) {
      const first = a.subarray(0, a.indexOf("\r\n") >= 0 ? a.indexOf("\r\n") : a.length).toString("latin1");
      // An answer, if any, starts with a status line (a tunnelled request's answer comes after CONNECT's).
      if (a.length > 0) expect(first).toMatch(/^HTTP\/1\.[01] \d{3} /);
      const status = a.length > 0 ? first.slice(9, 12) : "none";
      statuses.set(status, (statuses.get(status) ?? 0) + 1);
    }
  }
  // The mutations reached the proxy's refusals and its scrapes alike.
  expect(statuses.get("400") ?? 0).toBeGreaterThan(0);
  expect(statuses.get("200") ?? 0).toBeGreaterThan(0);
  expect(statuses.get("403") ?? 0).toBeGreaterThan(0);

  // Every client is gone: so is every connection to the proxy, and every channel but the idle one.
  await waitFor("no connection to the proxy left", () => proxySocketStates(port).length === 0);
  await waitFor("no SSH channel beyond the idle one", async () => {
    const text = await fetch(`${proxy.url}/metrics`, { headers: { Connection: "close" } }).then((r) =>
      r.text(),
    );
    return metricValue(text, "sshscrape_ssh_channels") <= 1;
  });
  const res = await viaProxy(proxy.url, `http://127.0.0.1:${exporter.port}/metrics`);
  expect(res.status).toBe(200);
  expect(res.body.equals(body)).toBe(true);
  expect((await fetch(`${proxy.url}/readyz`)).status).toBe(200);
});
