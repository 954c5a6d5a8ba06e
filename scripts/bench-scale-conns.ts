/**
 * Cost of the fleet side of the proxy, A/B (a script, not a test): proxy CPU per SSH handshake while it
 * preconnects N hosts, and memory per idle pooled SSH connection.
 *
 *   npm run build && npx tsx scripts/bench-scale-conns.ts --targets 500 [--proxy-b OTHER/bin/run.js]
 *     [--rounds 2] [--cpu-prof DIR] [--heap-snapshot DIR]
 *
 * The lab is bench:scale's (scripts/bench-scale-lab.ts): N loopback aliases on ⌈N / 16⌉ real sshds. Each
 * build runs as `sshscrape proxy --config LIST` (bin/run.js, with its V8 flags) twice per round, taking turns
 * with the other build:
 * - idle: the same N-target list with `proxy.preconnect: false`, nothing connected;
 * - pooled: `proxy.preconnect: true`; CPU (utime + stime from /proc) from "listening" until /readyz says every
 *   host connected, ÷ N = proxy CPU per handshake, start-up excluded (also printed as user and system
 *   CPU, with the minor page faults per handshake: what share is the kernel's), and the lab's sshds' CPU over
 *   the same span ÷ N (every process under the sshd masters, living or reaped by a living parent).
 * Each then gets SIGUSR2, which a preloaded hook answers with two full GCs and process.memoryUsage(), so
 * (pooled − idle) ÷ N is what one idle pooled connection costs: V8 heap, external (Buffers, native
 * crypto contexts) and RSS. With --scrape, every target is then scraped once through the proxy (a 56 KB
 * exporter page, gzip-compressed as Prometheus asks for it) and measured again: a host's cost in the steady
 * state, with its keep-alive channel and its series. Results and their reading: docs/benchmarks-scale.md.
 */
import { type ChildProcess, execFileSync, spawn } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { parseArgs } from "node:util";
import { gzipSync } from "node:zlib";
import { stringify } from "yaml";
import { CLI } from "../test/e2e/proxy-process.js";
import { metricsBody } from "../test/helpers/exporter.js";
import { freePort, waitFor } from "../test/helpers/processes.js";
import { viaProxy } from "../test/helpers/proxy.js";
import type { Sshd } from "../test/helpers/sshd.js";
import {
  alias,
  type Cleanups,
  parseEnv,
  runCleanups,
  startSshds,
  startStaticExporter,
} from "./bench-scale-lab.js";
import { treeCpuTicks } from "./proc-tree.js";

const { values: flags } = parseArgs({
  options: {
    targets: { type: "string", default: "500" },
    rounds: { type: "string", default: "1" },
    "proxy-b": { type: "string" },
    "cpu-prof": { type: "string" },
    "heap-snapshot": { type: "string" },
    /** After the pooled measurement, scrape every target once through the proxy and measure again. */
    scrape: { type: "boolean", default: false },
    /** Seconds to leave the pooled connections idle, measuring the proxy's CPU (keepalives). */
    "idle-cpu": { type: "string", default: "0" },
    /** proxy.keepaliveInterval in the target list (default: the proxy's). */
    keepalive: { type: "string" },
    json: { type: "boolean", default: false },
    /** After --scrape: GET the proxy's /metrics this many times (as Prometheus' self-scrape job does) and measure. */
    "metrics-renders": { type: "string", default: "0" },
    /** Environment for both builds' proxies, space-separated KEY=VALUE (e.g. "MALLOC_ARENA_MAX=2"). */
    "proxy-env": { type: "string" },
    /** Environment for build B's proxy only, on top of --proxy-env (an A/B of one build under two settings). */
    "proxy-env-b": { type: "string" },
  },
});
const N = Number(flags.targets);
const ROUNDS = Number(flags.rounds);
const CLK_TCK = Number(execFileSync("getconf", ["CLK_TCK"]).toString().trim());
const log = (msg: string) =>
  process.stderr.write(`[bench:conns ${new Date().toISOString().slice(11, 19)}] ${msg}\n`);
const cleanups: Cleanups = [];

/** Answers SIGUSR2 with two full GCs, then writes process.memoryUsage() (and a heap snapshot if asked). */
const HOOK = `
import { readFileSync, writeFileSync } from "node:fs";
import { getHeapSpaceStatistics, writeHeapSnapshot } from "node:v8";
let n = 0;
process.on("SIGUSR2", () => {
  globalThis.gc();
  globalThis.gc();
  const out = process.memoryUsage();
  // RSS split: anonymous (heap, malloc, stacks) and file-backed (the node binary's pages) (proc(5)).
  const status = readFileSync("/proc/self/status", "utf8");
  const kb = (k) => Number(status.split(k + ":")[1]?.trim().split(" ")[0] ?? 0) * 1024;
  out.rssAnon = kb("RssAnon");
  out.rssFile = kb("RssFile");
  out.spaces = Object.fromEntries(
    getHeapSpaceStatistics().map((s) => [s.space_name, { size: s.space_size, used: s.space_used_size }]),
  );
  if (process.env.BENCH_SNAPSHOT) writeHeapSnapshot(\`\${process.env.BENCH_SNAPSHOT}-\${++n}.heapsnapshot\`);
  writeFileSync(process.env.BENCH_MEMFILE, JSON.stringify(out));
});
`;

function rssOf(pid: number): number {
  const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, "utf8"));
  return Number(m?.[1] ?? 0) * 1024;
}

/** From /proc/PID/stat (all threads): user and system CPU in clock ticks, and minor page faults. */
function procStat(pid: number): { user: number; sys: number; minflt: number } {
  const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
  const f = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  return { user: Number(f[11]), sys: Number(f[12]), minflt: Number(f[7]) };
}

function cpuTicks(pid: number): number {
  const { user, sys } = procStat(pid);
  return user + sys;
}

interface Run {
  child: ChildProcess;
  url: string;
  output: () => string;
}

async function startProxy(
  cli: string,
  list: string,
  url: string,
  env: NodeJS.ProcessEnv,
  build: string,
): Promise<Run> {
  const prof = flags["cpu-prof"] ? ["--cpu-prof", `--cpu-prof-dir=${resolve(flags["cpu-prof"])}`] : [];
  const child = spawn(
    process.execPath,
    ["--expose-gc", "--import", `file://${hookFile}`, ...prof, cli, "proxy", "--config", list],
    {
      env: {
        ...process.env,
        ...parseEnv(flags["proxy-env"]),
        ...(build === "B" ? parseEnv(flags["proxy-env-b"]) : {}),
        ...env,
      },
      stdio: ["ignore", "pipe", "pipe"],
    },
  );
  let out = "";
  child.stdout?.on("data", (d: Buffer) => {
    out += d.toString();
  });
  child.stderr?.on("data", (d: Buffer) => {
    out += d.toString();
  });
  await waitFor(`proxy ${cli} listening`, () => out.includes('"msg":"listening"'), 20_000);
  return { child, url, output: () => out };
}

async function stop(run: Run): Promise<void> {
  const exited = new Promise((r) => run.child.once("exit", r));
  run.child.kill("SIGTERM");
  await Promise.race([exited, new Promise((r) => setTimeout(r, 15_000))]);
  if (run.child.exitCode === null && run.child.signalCode === null) run.child.kill("SIGKILL");
}

interface Memory {
  rss: number;
  heapUsed: number;
  heapTotal: number;
  external: number;
  arrayBuffers: number;
  rssAnon: number;
  rssFile: number;
  spaces: Record<string, { size: number; used: number }>;
}

async function memory(run: Run, memFile: string): Promise<Memory> {
  rmSync(memFile, { force: true });
  run.child.kill("SIGUSR2");
  await waitFor("memory report", () => existsSync(memFile) && readFileSync(memFile, "utf8") !== "", 60_000);
  return JSON.parse(readFileSync(memFile, "utf8")) as Memory;
}

let hookFile = "";

let exporterPort = 0;

interface Sample {
  build: string;
  idle: Memory;
  pooled: Memory;
  scraped?: Memory;
  scrapeCpuMs?: number;
  /** After --metrics-renders: memory, the RSS maximum while rendering, the page's size and CPU per render. */
  rendered?: Memory;
  renderRssMax?: number;
  metricsBytes?: number;
  renderCpuMs?: number;
  /** Proxy CPU while the pooled connections sat idle, % of one core. */
  idleCpuPct?: number;
  handshakeCpuMs: number;
  /** handshakeCpuMs split: user and system (kernel) CPU per handshake, ms; minor page faults per handshake. */
  handshakeUserMs: number;
  handshakeSysMs: number;
  handshakeMinflt: number;
  /** The lab's sshds' CPU over the same span ÷ N, ms. */
  sshdHandshakeMs: number;
  preconnectS: number;
}

async function measure(
  build: string,
  cli: string,
  sshds: Sshd[],
  sshPort: number,
  dir: string,
  round: number,
): Promise<Sample> {
  const first = sshds[0] as Sshd;
  const listFor = async (preconnect: boolean) => {
    const port = await freePort();
    const file = join(dir, `targets-${build}-${preconnect}.yaml`);
    writeFileSync(
      file,
      stringify({
        proxy: {
          listen: `127.0.0.1:${port}`,
          knownHostsFile: join(dir, "known_hosts"),
          preconnect,
          ...(flags.keepalive ? { keepaliveInterval: flags.keepalive } : {}),
        },
        ssh: { user: first.user, port: sshPort, key: { path: first.clientKeyPath } },
        // One exporter for every host (this script's, on 127.0.0.1): only the SSH connections differ.
        targets: Array.from({ length: N }, (_, i) => ({
          host: alias(i),
          exporters: [{ name: "node", port: exporterPort }],
        })),
      }),
    );
    return { file, url: `http://127.0.0.1:${port}` };
  };
  const memFile = join(dir, `mem-${build}.json`);
  const snapshot = (what: string) =>
    flags["heap-snapshot"]
      ? { BENCH_SNAPSHOT: resolve(flags["heap-snapshot"], `${build}-${what}-r${round}`) }
      : {};

  const idleList = await listFor(false);
  const idleRun = await startProxy(
    cli,
    idleList.file,
    idleList.url,
    {
      BENCH_MEMFILE: memFile,
      ...snapshot("idle"),
    },
    build,
  );
  await new Promise((r) => setTimeout(r, 1000));
  const idle = await memory(idleRun, memFile);
  await stop(idleRun);

  const list = await listFor(true);
  const run = await startProxy(
    cli,
    list.file,
    list.url,
    { BENCH_MEMFILE: memFile, ...snapshot("pooled") },
    build,
  );
  const pid = run.child.pid as number;
  const sshdPids = sshds.map((s) => s.pid()).filter((p): p is number => p !== undefined);
  const sshd0 = treeCpuTicks(sshdPids, { reaped: true });
  const p0 = procStat(pid);
  const t0 = p0.user + p0.sys;
  const w0 = Date.now();
  let readyText = "";
  await waitFor(
    "/readyz 200",
    async () => {
      const res = await fetch(`${run.url}/readyz`);
      readyText = await res.text();
      return res.ok;
    },
    600_000,
  );
  const p1 = procStat(pid);
  const sshd1 = treeCpuTicks(sshdPids, { reaped: true });
  const t1 = p1.user + p1.sys;
  const preconnectS = (Date.now() - w0) / 1000;
  if (!readyText.includes(`${N} of ${N} configured hosts connected`))
    throw new Error(`${build}: not every host connected: ${readyText.trim()}`);
  await new Promise((r) => setTimeout(r, 2000));
  const pooled = await memory(run, memFile);
  let idleCpuPct: number | undefined;
  const idleS = Number(flags["idle-cpu"]);
  if (idleS > 0) {
    const i0 = cpuTicks(pid);
    await new Promise((r) => setTimeout(r, idleS * 1000));
    idleCpuPct = ((cpuTicks(pid) - i0) / CLK_TCK / idleS) * 100;
  }
  let scraped: Memory | undefined;
  let scrapeCpuMs: number | undefined;
  if (flags.scrape) {
    const s0 = cpuTicks(pid);
    // 50 at a time, each target once, as Prometheus asks (gzip).
    for (let i = 0; i < N; i += 50) {
      const batch = await Promise.all(
        Array.from({ length: Math.min(50, N - i) }, (_, j) =>
          viaProxy(run.url, `http://${alias(i + j)}:${exporterPort}/metrics`, {
            headers: { "accept-encoding": "gzip" },
          }),
        ),
      );
      const bad = batch.find((r) => r.status !== 200);
      if (bad) throw new Error(`${build}: a scrape through the proxy answered ${bad.status}: ${bad.body}`);
    }
    scrapeCpuMs = ((cpuTicks(pid) - s0) / CLK_TCK / N) * 1000;
    await new Promise((r) => setTimeout(r, 2000));
    scraped = await memory(run, memFile);
  }
  let rendered: Memory | undefined;
  let renderRssMax: number | undefined;
  let metricsBytes: number | undefined;
  let renderCpuMs: number | undefined;
  const renders = Number(flags["metrics-renders"]);
  if (renders > 0) {
    renderRssMax = 0;
    const sampler = setInterval(() => {
      renderRssMax = Math.max(renderRssMax ?? 0, rssOf(pid));
    }, 20);
    const r0 = cpuTicks(pid);
    for (let i = 0; i < renders; i++) {
      const res = await fetch(`${run.url}/metrics`);
      metricsBytes = (await res.arrayBuffer()).byteLength;
      // Prometheus' self-scrape comes every interval, not back to back: let scavenges run in between.
      await new Promise((r) => setTimeout(r, 200));
    }
    renderCpuMs = ((cpuTicks(pid) - r0) / CLK_TCK / renders) * 1000;
    clearInterval(sampler);
    renderRssMax = Math.max(renderRssMax, rssOf(pid));
    rendered = await memory(run, memFile);
  }
  await stop(run);
  return {
    build,
    idle,
    pooled,
    scraped,
    scrapeCpuMs,
    rendered,
    renderRssMax,
    metricsBytes,
    renderCpuMs,
    idleCpuPct,
    handshakeCpuMs: ((t1 - t0) / CLK_TCK / N) * 1000,
    handshakeUserMs: ((p1.user - p0.user) / CLK_TCK / N) * 1000,
    handshakeSysMs: ((p1.sys - p0.sys) / CLK_TCK / N) * 1000,
    handshakeMinflt: (p1.minflt - p0.minflt) / N,
    sshdHandshakeMs: ((sshd1 - sshd0) / CLK_TCK / N) * 1000,
    preconnectS,
  };
}

async function main(): Promise<Sample[]> {
  const dir = mkdtempSync(join(tmpdir(), "sshscrape-bench-conns-"));
  cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
  hookFile = join(dir, "hook.mjs");
  writeFileSync(hookFile, HOOK);
  const body = metricsBody(56_000);
  const gz = gzipSync(body);
  const exporter = await startStaticExporter(body, gz);
  cleanups.push(() => new Promise((r) => exporter.server.close(r)));
  exporterPort = exporter.port;
  const sshPort = await freePort();
  log(`starting ${Math.ceil(N / 16)} sshds for ${N} aliases on port ${sshPort}`);
  const sshds = await startSshds(N, sshPort, cleanups);
  writeFileSync(join(dir, "known_hosts"), `${sshds.map((s) => s.knownHostsLine()).join("\n")}\n`);
  const builds: Array<[string, string]> = [["A", CLI]];
  if (flags["proxy-b"]) builds.push(["B", resolve(flags["proxy-b"])]);
  const samples: Sample[] = [];
  for (let round = 0; round < ROUNDS; round++)
    for (const [name, cli] of round % 2 === 0 ? builds : [...builds].reverse()) {
      log(`round ${round + 1}: ${name} (${cli})`);
      const s = await measure(name, cli, sshds, sshPort, dir, round);
      samples.push(s);
      log(`  ${describe(s)}`);
    }
  return samples;
}

const kb = (bytes: number) => `${(bytes / 1024).toFixed(1)} KB`;
const mb = (bytes: number) => `${(bytes / 2 ** 20).toFixed(1)} MB`;
/** One state's totals: RSS (anonymous + file), V8 heap used / committed, old space used / committed. */
const totals = (m: Memory) =>
  `RSS ${mb(m.rss)} (anon ${mb(m.rssAnon)}, file ${mb(m.rssFile)}), heap ${mb(m.heapUsed)} / ${mb(m.heapTotal)}, ` +
  `old space ${mb(m.spaces.old_space?.used ?? 0)} / ${mb(m.spaces.old_space?.size ?? 0)}, external ${mb(m.external)}`;
function describe(s: Sample): string {
  const per = (k: "rss" | "heapUsed" | "external" | "arrayBuffers") => kb((s.pooled[k] - s.idle[k]) / N);
  return (
    `${s.build}: ${N} handshakes in ${s.preconnectS.toFixed(1)} s, ${s.handshakeCpuMs.toFixed(2)} ms proxy CPU each ` +
    `(user ${s.handshakeUserMs.toFixed(2)}, system ${s.handshakeSysMs.toFixed(2)}; ${s.handshakeMinflt.toFixed(1)} minor faults), ` +
    `${s.sshdHandshakeMs.toFixed(2)} ms sshd CPU each; ` +
    `per idle pooled connection: heap ${per("heapUsed")}, external ${per("external")} ` +
    `(arrayBuffers ${per("arrayBuffers")}), RSS ${per("rss")}; pooled RSS ${(s.pooled.rss / 2 ** 20).toFixed(1)} MB, ` +
    `idle RSS ${(s.idle.rss / 2 ** 20).toFixed(1)} MB` +
    (s.idleCpuPct !== undefined
      ? `; CPU with the connections idle ${s.idleCpuPct.toFixed(2)} % of a core`
      : "") +
    (s.scraped
      ? `; after one scrape each (${s.scrapeCpuMs?.toFixed(2)} ms CPU per scrape), per host: heap ${kb((s.scraped.heapUsed - s.idle.heapUsed) / N)}, ` +
        `external ${kb((s.scraped.external - s.idle.external) / N)}, RSS ${kb((s.scraped.rss - s.idle.rss) / N)}`
      : "") +
    `\n    idle:    ${totals(s.idle)}\n    pooled:  ${totals(s.pooled)}` +
    (s.scraped ? `\n    scraped: ${totals(s.scraped)}` : "") +
    (s.rendered
      ? `\n    after ${flags["metrics-renders"]} GET /metrics (${kb(s.metricsBytes ?? 0)}, ${s.renderCpuMs?.toFixed(1)} ms CPU each; ` +
        `RSS max ${mb(s.renderRssMax ?? 0)} while rendering): ${totals(s.rendered)}`
      : "")
  );
}

let code = 0;
try {
  const load0 = readFileSync("/proc/loadavg", "utf8").trim();
  const samples = await main();
  const load1 = readFileSync("/proc/loadavg", "utf8").trim();
  if (flags.json) process.stdout.write(`${JSON.stringify({ N, load0, load1, samples }, null, 2)}\n`);
  else process.stdout.write(`load average ${load0} → ${load1}\n${samples.map(describe).join("\n")}\n`);
} catch (err) {
  log(`failed: ${(err as Error).stack ?? err}`);
  code = 2;
} finally {
  await runCleanups(cleanups, log);
}
process.exit(code);
