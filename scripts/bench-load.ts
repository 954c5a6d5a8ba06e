/**
 * The load generator of `npm run bench`, run as a child process of scripts/bench.ts so that its CPU is not
 * the proxy's or the exporter's. Closed loop: `concurrency` workers each send one request, read the whole
 * body, and send the next, each over its own keep-alive TCP connection (kept across rounds the way Prometheus
 * keeps its connections).
 *
 * The client is a minimal HTTP/1.1 one on raw sockets: a prebuilt request, then the status line and
 * Content-Length of the answer and a byte count. node:http's client cost ~0.1 ms of CPU per 100 KB response
 * here; on 2 cores shared by the generator, the exporter, sshd and the ssh client or proxy, that CPU is taken
 * from the paths being measured (docs/benchmarks.md, "A fair baseline").
 */
import { connect, type Socket } from "node:net";

export interface RoundRequest {
  type: "round";
  id: number;
  /** Agent key: requests of one mode and concurrency share keep-alive connections across rounds. */
  agentKey: string;
  /** Where the TCP connection goes. */
  host: string;
  port: number;
  /** Request target: origin form (`/metrics`) or absolute form (`http://HOST:PORT/metrics`) for a proxy. */
  path: string;
  /** Host header. */
  hostHeader: string;
  concurrency: number;
  /** Stop after this long… */
  durationMs?: number;
  /** …or after this many requests. */
  count?: number;
  /** Every response must be 200 with exactly this many body bytes. */
  expectBytes: number;
}

export interface RoundResult {
  type: "result";
  id: number;
  ok: number;
  errors: number;
  firstError?: string;
  wallMs: number;
  /** Latency of every successful request in ms, request sent to last body byte. */
  latencies: number[];
  /** The generator's own CPU time (user + system) during the round. */
  cpuMs: number;
}

export interface CloseAgents {
  type: "close";
}

/** One keep-alive connection of one worker: sends a request, resolves with the latency at the last byte. */
class Connection {
  private readonly socket: Socket;
  private head: Buffer[] = [];
  private headBytes = 0;
  /** Body bytes still expected; -1 while the head is being read. */
  private remaining = -1;
  private t0 = 0;
  private pending: { resolve: (ms: number) => void; reject: (err: Error) => void } | undefined;
  broken = false;

  constructor(
    host: string,
    port: number,
    private readonly expectBytes: number,
  ) {
    this.socket = connect({ host, port, noDelay: true });
    this.socket.on("data", (chunk: Buffer) => this.onData(chunk));
    this.socket.on("error", (err) => this.fail(err));
    this.socket.on("close", () => this.fail(new Error("connection closed")));
  }

  send(request: Buffer): Promise<number> {
    return new Promise((resolve, reject) => {
      this.pending = { resolve, reject };
      this.head = [];
      this.headBytes = 0;
      this.remaining = -1;
      this.t0 = performance.now();
      this.socket.write(request);
    });
  }

  destroy(): void {
    this.broken = true;
    this.socket.destroy();
  }

  private onData(chunk: Buffer): void {
    const p = this.pending;
    if (!p) {
      this.fail(new Error("bytes without a request"));
      return;
    }
    let body = chunk;
    if (this.remaining < 0) {
      this.head.push(chunk);
      this.headBytes += chunk.length;
      const all = this.head.length === 1 ? chunk : Buffer.concat(this.head, this.headBytes);
      const end = all.indexOf("\r\n\r\n");
      if (end < 0) {
        if (this.headBytes > 64 * 1024) this.fail(new Error("response head over 64 KB"));
        return;
      }
      const head = all.toString("latin1", 0, end);
      const status = Number(head.slice(9, 12));
      const length = /\r\ncontent-length:[ \t]*(\d+)/i.exec(head);
      const error =
        status !== 200
          ? `status ${status}`
          : !length
            ? "no Content-Length"
            : Number(length[1]) !== this.expectBytes
              ? `body ${length[1]} bytes, expected ${this.expectBytes}`
              : undefined;
      if (error) {
        // The connection is not reused after a failure: the rest of this answer is not read.
        this.fail(new Error(error));
        return;
      }
      this.remaining = this.expectBytes;
      body = all.subarray(end + 4);
    }
    this.remaining -= body.length;
    if (this.remaining > 0) return;
    this.pending = undefined;
    if (this.remaining < 0) this.fail(new Error("more bytes than Content-Length"), p);
    else p.resolve(performance.now() - this.t0);
  }

  private fail(err: Error, p = this.pending): void {
    this.pending = undefined;
    this.destroy();
    p?.reject(err);
  }
}

/** Each worker's connection, by agent key (mode and concurrency): kept across rounds, replaced when broken. */
const pools = new Map<string, Connection[]>();

function connectionFor(r: RoundRequest, worker: number): Connection {
  let pool = pools.get(r.agentKey);
  if (!pool) {
    pool = [];
    pools.set(r.agentKey, pool);
  }
  let conn = pool[worker];
  if (!conn || conn.broken) {
    conn = new Connection(r.host, r.port, r.expectBytes);
    pool[worker] = conn;
  }
  return conn;
}

function once(r: RoundRequest, request: Buffer, worker: number): Promise<number> {
  return connectionFor(r, worker).send(request);
}

async function round(r: RoundRequest): Promise<RoundResult> {
  const request = Buffer.from(
    `GET ${r.path} HTTP/1.1\r\nHost: ${r.hostHeader}\r\nUser-Agent: sshscrape-bench\r\nAccept: */*\r\n\r\n`,
    "latin1",
  );
  const latencies: number[] = [];
  let errors = 0;
  let firstError: string | undefined;
  let issued = 0;
  const cpu0 = process.cpuUsage();
  const t0 = performance.now();
  const stopAt = r.durationMs === undefined ? Number.POSITIVE_INFINITY : t0 + r.durationMs;
  const more = () =>
    r.count === undefined ? performance.now() < stopAt : issued < r.count && performance.now() < stopAt;
  const worker = async (_: unknown, index: number) => {
    while (more()) {
      issued++;
      try {
        latencies.push(await once(r, request, index));
      } catch (err) {
        errors++;
        firstError ??= (err as Error).message;
        // Do not spin on a broken setup: the round reports the errors.
        await new Promise((res) => setTimeout(res, 10));
      }
    }
  };
  await Promise.all(Array.from({ length: r.concurrency }, worker));
  const wallMs = performance.now() - t0;
  const cpu = process.cpuUsage(cpu0);
  return {
    type: "result",
    id: r.id,
    ok: latencies.length,
    errors,
    firstError,
    wallMs,
    latencies,
    cpuMs: (cpu.user + cpu.system) / 1000,
  };
}

// The orchestrator is gone (crashed or interrupted): nothing left to measure for.
process.on("disconnect", () => process.exit(0));

process.on("message", (msg: RoundRequest | CloseAgents) => {
  if (msg.type === "close") {
    for (const pool of pools.values()) for (const c of pool) c.destroy();
    pools.clear();
    process.send?.({ type: "closed" });
    return;
  }
  void round(msg).then((res) => process.send?.(res));
});
