/**
 * The load generator of `npm run bench`, run as a child process of scripts/bench.ts so that its CPU is not
 * the proxy's or the exporter's. Closed loop: `concurrency` workers each send one request, read the whole
 * body, and send the next, over keep-alive connections (one node:http Agent per mode and concurrency, kept
 * across rounds the way Prometheus keeps its connections).
 */
import { Agent, request } from "node:http";

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

const agents = new Map<string, Agent>();

function agentFor(key: string, concurrency: number): Agent {
  let agent = agents.get(key);
  if (!agent) {
    agent = new Agent({ keepAlive: true, maxSockets: concurrency, maxFreeSockets: concurrency });
    agents.set(key, agent);
  }
  return agent;
}

function once(r: RoundRequest, agent: Agent): Promise<number> {
  return new Promise((resolve, reject) => {
    const t0 = performance.now();
    const req = request(
      { host: r.host, port: r.port, path: r.path, headers: { host: r.hostHeader }, agent },
      (res) => {
        let bytes = 0;
        res.on("data", (c: Buffer) => {
          bytes += c.length;
        });
        res.on("error", reject);
        res.on("end", () => {
          if (res.statusCode !== 200) reject(new Error(`status ${res.statusCode}`));
          else if (bytes !== r.expectBytes)
            reject(new Error(`body ${bytes} bytes, expected ${r.expectBytes}`));
          else resolve(performance.now() - t0);
        });
      },
    );
    req.setTimeout(30_000, () => req.destroy(new Error("no answer within 30 s")));
    req.on("error", reject);
    req.end();
  });
}

async function round(r: RoundRequest): Promise<RoundResult> {
  const agent = agentFor(r.agentKey, r.concurrency);
  const latencies: number[] = [];
  let errors = 0;
  let firstError: string | undefined;
  let issued = 0;
  const cpu0 = process.cpuUsage();
  const t0 = performance.now();
  const stopAt = r.durationMs === undefined ? Number.POSITIVE_INFINITY : t0 + r.durationMs;
  const more = () =>
    r.count === undefined ? performance.now() < stopAt : issued < r.count && performance.now() < stopAt;
  const worker = async () => {
    while (more()) {
      issued++;
      try {
        latencies.push(await once(r, agent));
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
    for (const a of agents.values()) a.destroy();
    agents.clear();
    process.send?.({ type: "closed" });
    return;
  }
  void round(msg).then((res) => process.send?.(res));
});
