/**
 * Adversarial audit of the raw front (src/proxy/front.ts) over real sockets: a real sshd, a raw exporter that
 * records every request head it receives byte for byte, and two proxies, one with the front (the default) and
 * one with SSHSCRAPE_FRONT=0 (node:http only).
 *
 * - Differential: byte sequences at the grammar's edge and pipelined batches mixing served and handed-off
 *   requests get the same answers from both proxies (Date lines aside), and the exporter receives the very
 *   same request heads through both.
 * - Hand-off ordering: the bytes put back in front of the stream reach node:http's parser before anything read
 *   later from the socket, under many quick hand-offs on parallel connections.
 * - Liveness: many pipelined requests (beyond the 64 KB read bound), a client that never reads, a client that
 *   resets mid-response, a FIN mid-head: every connection to the proxy goes away (ss), and no SSH channel is
 *   left open beyond the idle ones.
 */
import { createServer, type Server, type Socket } from "node:net";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type RunningProxy, startProxy } from "../../src/proxy/index.js";
import { waitFor } from "../helpers/processes.js";
import { memoryLogger, metricValue, proxySocketStates, proxyWith, runtimeFor } from "../helpers/proxy.js";
import { RawClient, undated } from "../helpers/raw-http.js";
import { type Sshd, startSshd } from "../helpers/sshd.js";

interface RawExporter {
  server: Server;
  port: number;
  /** Request heads received, as bytes (latin1), in arrival order. */
  heads: string[];
  /** Exporter-side connections open now. */
  open: Set<Socket>;
}

const BIG = Buffer.alloc(4 * 1024 * 1024, "x");
/** More than loopback's socket buffers hold (both kernels' sides): part of it stays in the proxy. */
const HUGE = Buffer.alloc(32 * 1024 * 1024, "y");

/**
 * Answers each request by path: /chunked with a chunked body, /close close-delimited, /big 4 MB, anything
 * else a Content-Length body naming the request line. Requests never carry a body through this proxy
 * (GET/HEAD only), so a head ends each request.
 */
function startRawExporter(): Promise<RawExporter> {
  const heads: string[] = [];
  const open = new Set<Socket>();
  const server = createServer((socket: Socket) => {
    open.add(socket);
    socket.on("close", () => open.delete(socket));
    socket.on("error", () => {});
    let buf = Buffer.alloc(0);
    socket.on("data", (d: Buffer) => {
      buf = Buffer.concat([buf, d]);
      for (;;) {
        const end = buf.indexOf("\r\n\r\n");
        if (end < 0) return;
        const head = buf.toString("latin1", 0, end + 4);
        buf = buf.subarray(end + 4);
        heads.push(head);
        const line = head.slice(0, head.indexOf("\r\n"));
        const [method, path = ""] = line.split(" ");
        const noBody = method === "HEAD";
        if (path.startsWith("/chunked")) {
          socket.write(
            `HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n${noBody ? "" : `${line.length.toString(16)}\r\n${line}\r\n0\r\n\r\n`}`,
          );
        } else if (path.startsWith("/close")) {
          socket.end(`HTTP/1.1 200 OK\r\nConnection: close\r\n\r\n${noBody ? "" : line}`);
          return;
        } else if (path.startsWith("/huge")) {
          socket.write(`HTTP/1.1 200 OK\r\nContent-Length: ${HUGE.length}\r\n\r\n`);
          if (!noBody) socket.write(HUGE);
        } else if (path.startsWith("/big")) {
          socket.write(`HTTP/1.1 200 OK\r\nContent-Length: ${BIG.length}\r\n\r\n`);
          if (!noBody) socket.write(BIG);
        } else {
          socket.write(`HTTP/1.1 200 OK\r\nContent-Length: ${line.length}\r\n\r\n${noBody ? "" : line}`);
        }
      }
    });
  });
  return new Promise((resolve) =>
    server.listen(0, "127.0.0.1", () => {
      const addr = server.address();
      resolve({ server, port: typeof addr === "object" && addr ? addr.port : 0, heads, open });
    }),
  );
}

let sshd: Sshd;
let exporter: RawExporter;
let front: RunningProxy;
let plain: RunningProxy;
/** Front on, a short request deadline: for the client that never reads. */
let shortFront: RunningProxy;
/** Proxy auth on (user prom, password s3cret), with and without the front. */
let frontAuth: RunningProxy;
let plainAuth: RunningProxy;
const frontLog = memoryLogger();
const shortLog = memoryLogger();

beforeAll(async () => {
  sshd = await startSshd();
  exporter = await startRawExporter();
  const exact = [{ host: "127.0.0.1", port: exporter.port }];
  front = await proxyWith(true, () => startProxy(runtimeFor(sshd, { exact }), { logger: frontLog.logger }));
  plain = await proxyWith(false, () =>
    startProxy(runtimeFor(sshd, { exact }), { logger: memoryLogger().logger }),
  );
  const { writeFileSync } = await import("node:fs");
  const passwordFile = `${sshd.dir}/proxy-password`;
  writeFileSync(passwordFile, "s3cret\n");
  const auth = { username: "prom", passwordFile };
  frontAuth = await proxyWith(true, () =>
    startProxy(runtimeFor(sshd, { exact, overrides: { auth } }), { logger: memoryLogger().logger }),
  );
  plainAuth = await proxyWith(false, () =>
    startProxy(runtimeFor(sshd, { exact, overrides: { auth } }), { logger: memoryLogger().logger }),
  );
  shortFront = await proxyWith(true, () =>
    startProxy(runtimeFor(sshd, { exact, timeouts: { request: 1_500, margin: 100 } }), {
      logger: shortLog.logger,
    }),
  );
});

afterAll(async () => {
  await Promise.all([front, plain, shortFront, frontAuth, plainAuth].map((p) => p?.close(500)));
  for (const s of exporter?.open ?? []) s.destroy();
  exporter?.server.close();
  await sshd?.stop();
});

const portOf = (p: RunningProxy) => Number(new URL(p.url).port);
const T = () => `http://127.0.0.1:${exporter.port}`;
const H = () => `127.0.0.1:${exporter.port}`;
/** A request the front serves itself. */
const get = (path: string, extra = "", method = "GET") =>
  `${method} ${T()}${path} HTTP/1.1\r\nHost: ${H()}\r\nUser-Agent: Prometheus/2.42.0\r\n${extra}\r\n`;
/** Ends every probe: node:http (the front hands it off) answers it and closes the connection. */
const closing = (tag: string) => get(`/${tag}-end`, "Connection: close\r\n");
const handOffs = () =>
  frontLog.records.filter((r) => r.msg === "front: connection handed to node:http").length;

const proxySockets = (p: RunningProxy) => proxySocketStates(portOf(p)).length;

/** The proxy's /metrics, on a connection closed after it (a keep-alive fetch would count as open). */
async function metricsText(p: RunningProxy): Promise<string> {
  const c = await RawClient.open(portOf(p));
  // The proxies with auth want it for /metrics too.
  const auth = `Basic ${Buffer.from("prom:s3cret").toString("base64")}`;
  await c.write(`GET /metrics HTTP/1.1\r\nHost: x\r\nAuthorization: ${auth}\r\nConnection: close\r\n\r\n`);
  const r = await c.response();
  c.destroy();
  return r.body.toString();
}

/** Everything the proxy sends on one connection for `bytes`, until it closes the connection. */
async function untilClosed(p: RunningProxy, bytes: string | Buffer): Promise<string> {
  const c = await RawClient.open(portOf(p));
  await c.write(bytes);
  await c.done;
  return c.pending().toString("latin1");
}

/** The client's socket, to pause, half-close or reset it. */
const sockOf = (c: RawClient) => (c as unknown as { socket: Socket }).socket;

/**
 * The same bytes (`make(tag)`) through both proxies, each run with its own tag in the paths: the answers, and
 * the request heads the exporter received for that run whose answers reached the client (plus any "-hidden"
 * one, which must never arrive). Heads of requests pipelined behind a refusal that closes the connection are
 * left out: node:http dispatches pipelined requests at once, so it may still send them upstream after the
 * client saw the close (their answers go nowhere), or not.
 */
async function differential(make: (tag: string) => string, a0 = front, b0 = plain, end = closing) {
  const run = async (p: RunningProxy) => {
    const tag = `p${Math.random().toString(36).slice(2, 8)}`;
    const answer = await untilClosed(p, make(tag) + end(tag));
    // Heads whose answer (the exporter echoes the request line) reached the client, and any hidden one.
    const seen = exporter.heads
      .filter((h) => h.includes(`/${tag}-`) && !h.includes(`/${tag}-end `))
      .filter((h) => answer.includes(h.slice(0, h.indexOf("\r\n"))) || h.includes("-hidden"))
      .map((h) => h.replaceAll(tag, "TAG"));
    return { answer: undated(answer).replaceAll(tag, "TAG"), seen };
  };
  const a = await run(a0);
  const b = await run(b0);
  return { front: a.answer, plain: b.answer, seenA: a.seen, seenB: b.seen };
}

describe("front and node:http agree (answers, and the heads the exporter receives)", () => {
  const probes: Array<[string, (tag: string) => string]> = [
    [
      "served, served, handed off (Content-Length: 0), served, pipelined in one write",
      (t) => get(`/${t}-a`) + get(`/${t}-b`) + get(`/${t}-c`, "Content-Length: 0\r\n") + get(`/${t}-d`),
    ],
    [
      "served, then an HTTP/1.0 request, then served",
      (t) =>
        `${get(`/${t}-a`)}GET ${T()}/${t}-b HTTP/1.0\r\nHost: ${H()}\r\nConnection: keep-alive\r\n\r\n${get(`/${t}-c`)}`,
    ],
    ["a head ended by LF LF", (t) => `GET ${T()}/${t}-a HTTP/1.1\nHost: ${H()}\n\n${get(`/${t}-b`)}`],
    ["CRLF between pipelined requests", (t) => `${get(`/${t}-a`)}\r\n${get(`/${t}-b`)}`],
    ["a header name twice, differing in case", (t) => get(`/${t}-a`, "X-Dup: 1\r\nx-dup: 2\r\n")],
    ["Host twice, differing in case", (t) => get(`/${t}-a`, `host: ${H()}\r\n`)],
    ["HOST in capitals", (t) => `GET ${T()}/${t}-a HTTP/1.1\r\nHOST: ${H()}\r\n\r\n`],
    ["obs-text in a value", (t) => get(`/${t}-a`, "X-Name: caf\xe9\r\n")],
    [
      "tabs, trailing whitespace, empty values",
      (t) => get(`/${t}-a`, "X-Tab:\tone\ttwo\t \r\nX-Trail: v  \t \r\nX-Empty:\r\nX-Blank:   \r\n"),
    ],
    ["whitespace before the colon", (t) => get(`/${t}-a`, "X-Sp : 1\r\n")],
    ["an obs-fold continuation line", (t) => get(`/${t}-a`, "X-Fold: a\r\n b\r\n")],
    [
      "HEAD then GET, pipelined, on chunked and close-delimited answers",
      (t) =>
        get(`/chunked-${t}`, "", "HEAD") +
        get(`/chunked-${t}`) +
        get(`/close-${t}`, "", "HEAD") +
        get(`/${t}-z`),
    ],
    [
      "Transfer-Encoding: chunked with an empty body, then served",
      (t) => `${get(`/${t}-a`, "Transfer-Encoding: chunked\r\n")}0\r\n\r\n${get(`/${t}-b`)}`,
    ],
    [
      "a Content-Length body hiding a request (smuggling)",
      (t) => {
        const hidden = get(`/${t}-hidden`);
        return get(`/${t}-a`, `Content-Length: ${hidden.length}\r\n`) + hidden;
      },
    ],
    [
      "Connection: keep-alive and Proxy-Connection: Keep-Alive",
      (t) => get(`/${t}-a`, "Connection: keep-alive\r\nProxy-Connection: Keep-Alive\r\n") + get(`/${t}-b`),
    ],
    [
      "Connection: keep-alive, close",
      (t) => get(`/${t}-a`, "Connection: keep-alive, close\r\n") + get(`/${t}-b`),
    ],
    ["a NUL in a value", (t) => get(`/${t}-a`, "X-Nul: a\x00b\r\n")],
    [
      "userinfo, percent-encoding and a query in the target",
      (t) => `GET http://u:p@${H()}/${t}-%41?q=a%20b&r=[x] HTTP/1.1\r\nHost: ${H()}\r\n\r\n`,
    ],
    ["a fragment in the target", (t) => `GET ${T()}/${t}-a#frag HTTP/1.1\r\nHost: ${H()}\r\n\r\n`],
    ["two spaces after the method", (t) => `GET  ${T()}/${t}-a HTTP/1.1\r\nHost: ${H()}\r\n\r\n`],
    ["lower-case method", (t) => `get ${T()}/${t}-a HTTP/1.1\r\nHost: ${H()}\r\n\r\n`],
    [
      "HTTP/1.10 and HTTP/1.1 followed by a space",
      (t) => `GET ${T()}/${t}-a HTTP/1.1 \r\nHost: ${H()}\r\n\r\n${get(`/${t}-b`)}`,
    ],
  ];
  it.each(probes)("%s", async (_name, make) => {
    const r = await differential(make);
    expect(r.front).toBe(r.plain);
    expect([...r.seenA, ...r.seenB].join("")).not.toContain("-hidden");
    // node:http runs pipelined requests concurrently (on as many channels): the order upstream may differ.
    expect([...r.seenA].sort()).toEqual([...r.seenB].sort());
  });

  // A known difference, in the front's favour: node:http answers a malformed head at once (400, close), and
  // the answer to the request before it, still on its way, is lost; the front answers that one first, then
  // hands off and node:http's 400 follows. The malformed request never reaches the exporter either way.
  it.each([
    ["a bare LF inside a header value", "X-A: 1\nX-B: 2\r\n"],
    ["a bare CR inside a header value", "X-A: 1\rX-B: 2\r\n"],
  ])("served, then %s: the front answers the first, then node:http's 400", async (_name, extra) => {
    const r = await differential((t) => get(`/${t}-a`) + get(`/${t}-b`, extra));
    expect(r.plain).toMatch(/^HTTP\/1\.1 400 /);
    expect(r.front.endsWith(r.plain)).toBe(true);
    expect(r.front.slice(0, r.front.length - r.plain.length)).toBe(
      // 23: the request line's length before the tag was replaced.
      "HTTP/1.1 200 OK\r\nContent-Length: 23\r\nConnection: keep-alive\r\nKeep-Alive: timeout=65\r\n\r\nGET /TAG-a HTTP/1.1",
    );
    for (const seen of [r.seenA, r.seenB]) expect(seen.join("")).not.toContain("/TAG-b");
  });
});

describe("proxy auth (407) on the front agrees with node:http", () => {
  const good = Buffer.from("prom:s3cret").toString("base64");
  const bad = Buffer.from("prom:wrong").toString("base64");
  const probes: Array<[string, (tag: string) => string]> = [
    [
      "no credentials, then good ones, pipelined",
      (t) => get(`/${t}-a`) + get(`/${t}-b`, `Proxy-Authorization: Basic ${good}\r\n`),
    ],
    [
      "wrong credentials, then good ones",
      (t) =>
        get(`/${t}-a`, `Proxy-Authorization: Basic ${bad}\r\n`) +
        get(`/${t}-b`, `Proxy-Authorization: Basic ${good}\r\n`),
    ],
    [
      "lower-case name and scheme, tabs and trailing whitespace",
      (t) => get(`/${t}-a`, `proxy-authorization:\tbasic \t${good}\t \r\n`),
    ],
    ["two spaces after the scheme", (t) => get(`/${t}-a`, `Proxy-Authorization: Basic  ${good}\r\n`)],
    [
      "credentials twice (wrong first), differing in case",
      (t) => get(`/${t}-a`, `Proxy-Authorization: Basic ${bad}\r\nproxy-authorization: Basic ${good}\r\n`),
    ],
    [
      "credentials twice (good first)",
      (t) => get(`/${t}-a`, `Proxy-Authorization: Basic ${good}\r\nProxy-Authorization: Basic ${bad}\r\n`),
    ],
    [
      "good credentials as Authorization (not the proxy's)",
      (t) => get(`/${t}-a`, `Authorization: Basic ${good}\r\n`),
    ],
    ["HEAD without credentials", (t) => get(`/${t}-a`, "", "HEAD")],
  ];
  it.each(probes)("%s", async (_name, make) => {
    const end = (t: string) =>
      get(`/${t}-end`, `Proxy-Authorization: Basic ${good}\r\nConnection: close\r\n`);
    const r = await differential(make, frontAuth, plainAuth, end);
    expect(r.front).toBe(r.plain);
    expect([...r.seenA].sort()).toEqual([...r.seenB].sort());
  });
});

describe("hand-off ordering", () => {
  it("many connections, each: served, handed off, served, then more bytes written at once", async () => {
    const before = handOffs();
    const N = 40;
    const run = async (i: number) => {
      const c = await RawClient.open(portOf(front));
      try {
        const paths = [`/o${i}-a`, `/o${i}-b`, `/o${i}-c`, `/o${i}-d`, `/o${i}-e`];
        // No await between the writes: the later bytes follow the hand-off as closely as the client can.
        void c.write(get(paths[0] as string));
        void c.write(get(paths[1] as string, "Content-Length: 0\r\n") + get(paths[2] as string));
        void c.write(get(paths[3] as string));
        await c.write(get(paths[4] as string));
        const bodies: string[] = [];
        for (const _ of paths) bodies.push((await c.response()).body.toString("latin1"));
        expect(bodies).toEqual(paths.map((p) => `GET ${p} HTTP/1.1`));
      } finally {
        c.destroy();
      }
    };
    await Promise.all(Array.from({ length: N }, (_, i) => run(i)));
    expect(handOffs()).toBeGreaterThan(before);
  });

  it("a hand-off request arriving while a large answer streams, followed at once by more requests", async () => {
    const c = await RawClient.open(portOf(front));
    try {
      await c.write(get("/big-1"));
      // Sent while the 4 MB answer is still being written: buffered by the front, then handed off.
      await c.write(get("/s-b", "Content-Length: 0\r\n") + get("/s-c"));
      await c.write(get("/s-d"));
      expect((await c.response()).body.length).toBe(BIG.length);
      expect((await c.response()).body.toString()).toBe("GET /s-b HTTP/1.1");
      expect((await c.response()).body.toString()).toBe("GET /s-c HTTP/1.1");
      expect((await c.response()).body.toString()).toBe("GET /s-d HTTP/1.1");
    } finally {
      c.destroy();
    }
  });
});

describe("liveness and resources", () => {
  it("1 500 pipelined requests in one write (past the 64 KB bound) are answered in order", async () => {
    const c = await RawClient.open(portOf(front));
    const n = 1_500;
    const paths = Array.from({ length: n }, (_, i) => `/pipe-${i}`);
    try {
      const bytes = paths.map((p) => get(p)).join("");
      expect(bytes.length).toBeGreaterThan(128 * 1024);
      await c.write(bytes);
      for (const p of paths) expect((await c.response()).body.toString()).toBe(`GET ${p} HTTP/1.1`);
    } finally {
      c.destroy();
    }
    await waitFor("the pipelining connection to go", () => proxySockets(front) === 0);
  });

  it("a hand-off in the middle of 1 500 pipelined requests (the front has paused reading): all in order", async () => {
    const before = handOffs();
    const c = await RawClient.open(portOf(front));
    const n = 1_500;
    const paths = Array.from({ length: n }, (_, i) => `/mid-${i}`);
    try {
      const bytes = paths.map((p, i) => (i === 700 ? get(p, "Content-Length: 0\r\n") : get(p))).join("");
      await c.write(bytes);
      for (const p of paths) expect((await c.response()).body.toString()).toBe(`GET ${p} HTTP/1.1`);
    } finally {
      c.destroy();
    }
    expect(handOffs()).toBe(before + 1);
    await waitFor("the pipelining connection to go", () => proxySockets(front) === 0);
  });

  it("served, then CONNECT and tunnel bytes in the same write: answer, 200, then the tunnel", async () => {
    const connectHead = `CONNECT ${H()} HTTP/1.1\r\nHost: ${H()}\r\n\r\n`;
    // The exporter answers /close and closes: the tunnel, and the client's connection, end with it.
    const inside = "GET /close-tunnel HTTP/1.1\r\nHost: x\r\n\r\n";
    const text = await untilClosed(front, get("/before-connect") + connectHead + inside);
    const first = "GET /before-connect HTTP/1.1";
    expect(text.startsWith(`HTTP/1.1 200 OK\r\nContent-Length: ${first.length}\r\n`)).toBe(true);
    const rest = text.slice(text.indexOf(first) + first.length);
    expect(rest).toMatch(/^HTTP\/1\.1 200 [^\r]*\r\n/);
    expect(rest.endsWith("HTTP/1.1 200 OK\r\nConnection: close\r\n\r\nGET /close-tunnel HTTP/1.1")).toBe(
      true,
    );
  });

  it("a client that never reads a large answer: the deadline closes the connection, nothing stays open", async () => {
    const c = await RawClient.open(portOf(shortFront));
    const sock = sockOf(c);
    sock.pause();
    await c.write(get("/huge-stuck") + get("/after-stuck"));
    // The proxy gives up at the request deadline and closes its side (what the kernel still holds for the
    // unread window is an orphan in FIN-WAIT, no longer the proxy's).
    await waitFor("the proxy to close the stuck connection", () =>
      proxySocketStates(portOf(shortFront)).every((s) => s.startsWith("FIN-WAIT")),
    );
    sock.resume();
    await c.done;
    expect(c.pending().length).toBeLessThan(HUGE.length);
    await waitFor("the stuck connection to go", () => proxySockets(shortFront) === 0);
    // The channel carrying the unread answer was not put back as idle with bytes still in it: the next scrape
    // gets its own answer.
    const d = await RawClient.open(portOf(shortFront));
    try {
      await d.write(get("/fresh"));
      expect((await d.response()).body.toString()).toBe("GET /fresh HTTP/1.1");
    } finally {
      d.destroy();
    }
  });

  it("a client resetting mid-answer: the connection and the half-read channel go", async () => {
    // The exporter serves all the proxies: its connections are at most their open channels together.
    const channels = async () => {
      let sum = 0;
      for (const p of [front, plain, shortFront, frontAuth, plainAuth])
        sum += metricValue(await metricsText(p), "sshscrape_ssh_channels");
      return sum;
    };
    const c = await RawClient.open(portOf(front));
    await c.write(get("/big-reset"));
    await waitFor("part of the answer", () => c.pending().length > 64 * 1024);
    sockOf(c).resetAndDestroy();
    await waitFor("the reset connection to go", () => proxySockets(front) === 0);
    await waitFor("no more than one exporter connection per idle channel", async () => {
      const open = await channels();
      return Number.isFinite(open) && exporter.open.size <= open;
    });
    const d = await RawClient.open(portOf(front));
    try {
      await d.write(get("/after-reset"));
      expect((await d.response()).body.toString()).toBe("GET /after-reset HTTP/1.1");
    } finally {
      d.destroy();
    }
  });

  it("FIN after half a head: node:http gets the half and the connection closes", async () => {
    const c = await RawClient.open(portOf(front));
    const whole = get("/fin-half");
    sockOf(c).end(whole.slice(0, 30));
    await c.done;
    expect(c.pending().toString("latin1")).toMatch(/^(HTTP\/1\.1 400 |$)/);
    await waitFor("the half-closed connection to go", () => proxySockets(front) === 0);
  });

  it("FIN right after a request and a pipelined one: the client is gone, as for node:http: no answer, the connection closes", async () => {
    // node:http ends the connection on a client's FIN and the response in flight goes nowhere; the front closes
    // it too, releasing the exchange at once (test/proxy/client-gone.test.ts). It used to answer the first.
    for (const p of [front, plain]) {
      const c = await RawClient.open(portOf(p));
      sockOf(c).end(get("/fin-a") + get("/fin-b"));
      await c.done;
      expect(c.pending().toString("latin1")).toBe("");
      await waitFor("the half-closed connection to go", () => proxySockets(p) === 0);
    }
  });
});
