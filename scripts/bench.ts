/**
 * `npm run bench`: sshscrape against a persistent OpenSSH tunnel (`ssh -N -L`), the baseline a user would
 * otherwise run, and against direct HTTP, all measured in one run. Starts a real sshd, a static exporter
 * with a 100 KB body and the built CLI (`node bin/run.js proxy --config …`), whose CPU and RSS are read
 * from /proc/PID. The three paths take turns in short rounds at each concurrency, so machine noise hits all
 * three alike; the load generator is a child process (scripts/bench-load.ts). Then an RSS soak.
 *
 * Prints markdown tables, PASS/FAIL per target of issue 2, and always exits 0 (a benchmark, not a test).
 */
import { type ChildProcess, execFileSync, fork, spawnSync } from "node:child_process";
import { existsSync, readdirSync, readFileSync, statSync, writeFileSync } from "node:fs";
import { cpus } from "node:os";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { type Exporter, metricsBody, startExporter } from "../test/helpers/exporter.js";
import { freePort, type Started, start, waitFor } from "../test/helpers/processes.js";
import { type Sshd, startSshd } from "../test/helpers/sshd.js";
import type { RoundRequest, RoundResult } from "./bench-load.js";

const ROOT = join(import.meta.dirname, "..");
const BIN = join(ROOT, "bin/run.js");
const CONCURRENCY = [1, 16, 64] as const;
const BODY_BYTES = 100_000;
const TARGETS = { p50RatioC1: 1.5, rpsRatioC16: 0.5, rssMb: 120 };

const { values: flags } = parseArgs({
  options: {
    quick: { type: "boolean", default: false },
    duration: { type: "string" },
    round: { type: "string" },
    soak: { type: "string" },
    "proxy-node-args": { type: "string" },
    help: { type: "boolean", short: "h", default: false },
  },
});
if (flags.help) {
  console.log(`usage: npm run bench -- [--quick] [--duration SECONDS] [--round MS] [--soak REQUESTS]

  --duration SECONDS  measured time per path and concurrency, split into rounds (default 10; --quick: 2)
  --round MS          length of one round; the paths take turns round by round (default 1000; --quick: 500)
  --soak REQUESTS     requests through the proxy before reading its RSS (default 100000; --quick: 10000)
  --proxy-node-args="ARGS"  extra node options for the proxy process, e.g. "--cpu-prof --cpu-prof-dir=/tmp/prof"`);
  process.exit(0);
}
const durationMs = 1000 * Number(flags.duration ?? (flags.quick ? 2 : 10));
const roundMs = Number(flags.round ?? (flags.quick ? 500 : 1000));
const soakRequests = Number(flags.soak ?? (flags.quick ? 10_000 : 100_000));
for (const [name, v] of [
  ["--duration", durationMs],
  ["--round", roundMs],
  ["--soak", soakRequests],
] as const) {
  if (!Number.isFinite(v) || v <= 0) {
    console.error(`bench: ${name} must be a positive number`);
    process.exit(2);
  }
}
const rounds = Math.max(1, Math.round(durationMs / roundMs));

type Path = "direct" | "tunnel" | "sshscrape";
const PATHS: Path[] = ["direct", "tunnel", "sshscrape"];

interface Totals {
  ok: number;
  errors: number;
  firstError?: string;
  wallMs: number;
  latencies: number[];
  /** CPU of the process that carries the path: the proxy for sshscrape, the ssh client for the tunnel. */
  procCpuMs: number;
  genCpuMs: number;
  rssBytes?: number;
}

/** The proxy as users run it: the built CLI, rebuilt first when src/ or cli/ is newer than dist/. */
function ensureBuilt(): void {
  const built = join(ROOT, "dist/cli/commands/proxy.js");
  const newest = (dir: string) =>
    readdirSync(join(ROOT, dir), { recursive: true, encoding: "utf8" })
      .filter((f) => f.endsWith(".ts"))
      .reduce((m, f) => Math.max(m, statSync(join(ROOT, dir, f)).mtimeMs), 0);
  if (existsSync(built) && statSync(built).mtimeMs >= Math.max(newest("src"), newest("cli"))) return;
  console.error("bench: dist/ is missing or older than src/; running npm run build");
  execFileSync("npm", ["run", "build"], { cwd: ROOT, stdio: "inherit" });
}

const CLK_TCK = Number(execFileSync("getconf", ["CLK_TCK"]).toString().trim()) || 100;

/** utime + stime of a process in ms (proc(5): fields 14 and 15 of /proc/PID/stat). */
function cpuMs(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
  const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  return ((Number(fields[11]) + Number(fields[12])) * 1000) / CLK_TCK;
}

/** Resident set size in bytes (VmRSS of /proc/PID/status). */
function rssBytes(pid: number): number {
  const m = /^VmRSS:\s+(\d+) kB$/m.exec(readFileSync(`/proc/${pid}/status`, "utf8"));
  return m ? Number(m[1]) * 1024 : Number.NaN;
}

/** Nearest-rank percentile of sorted values. */
function percentile(sorted: number[], p: number): number {
  if (sorted.length === 0) return Number.NaN;
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)] as number;
}

class Generator {
  private readonly child: ChildProcess;
  private nextId = 0;
  private readonly waiting = new Map<number, (r: RoundResult) => void>();

  constructor() {
    this.child = fork(join(import.meta.dirname, "bench-load.ts"), [], {
      execArgv: ["--import", "tsx"],
      stdio: ["ignore", "inherit", "inherit", "ipc"],
    });
    this.child.on("message", (m: RoundResult | { type: "closed" }) => {
      if (m.type === "result") this.waiting.get(m.id)?.(m);
      if (m.type === "closed") this.waiting.get(-1)?.(m as unknown as RoundResult);
    });
  }

  run(r: Omit<RoundRequest, "type" | "id">): Promise<RoundResult> {
    const id = this.nextId++;
    return new Promise((resolve) => {
      this.waiting.set(id, (res) => {
        this.waiting.delete(id);
        resolve(res);
      });
      this.child.send({ type: "round", id, ...r } satisfies RoundRequest);
    });
  }

  /** Closes every keep-alive connection (and so the tunnel's channels) before the next concurrency. */
  closeAgents(): Promise<void> {
    return new Promise((resolve) => {
      this.waiting.set(-1, () => {
        this.waiting.delete(-1);
        resolve();
      });
      this.child.send({ type: "close" });
    });
  }

  stop(): void {
    this.child.kill();
  }
}

interface Setup {
  sshd: Sshd;
  exporter: Exporter;
  proxy: Started;
  proxyPort: number;
  tunnel: Started;
  tunnelPort: number;
  tunnelCipher: string;
}

async function setUp(): Promise<Setup> {
  const sshd = await startSshd({ highLimits: true });
  const exporter = await startExporter({ body: metricsBody(BODY_BYTES) });
  const knownHosts = join(sshd.dir, "known_hosts");
  writeFileSync(knownHosts, `${sshd.knownHostsLine()}\n`);
  const config = join(sshd.dir, "bench-targets.json");
  writeFileSync(
    config,
    JSON.stringify({
      proxy: { knownHostsFile: knownHosts },
      ssh: { user: sshd.user, port: sshd.port, key: { path: sshd.clientKeyPath } },
      targets: [{ host: "127.0.0.1", exporters: [{ name: "bench", port: exporter.port }] }],
    }),
  );

  const proxyPort = await freePort();
  const nodeArgs = flags["proxy-node-args"]?.split(/\s+/).filter(Boolean) ?? [];
  const proxy = start(process.execPath, [
    ...nodeArgs,
    BIN,
    "proxy",
    "--config",
    config,
    "--listen",
    `127.0.0.1:${proxyPort}`,
  ]);
  await waitFor(
    `the proxy to listen\n${proxy.output()}`,
    () => proxy.output().includes('"msg":"listening"'),
    20_000,
  );

  // The baseline: what a user without sshscrape runs, one persistent OpenSSH tunnel per exporter.
  const tunnelPort = await freePort();
  const tunnel = start("ssh", [
    "-v",
    "-F",
    "/dev/null",
    "-N",
    "-o",
    "BatchMode=yes",
    "-o",
    "ExitOnForwardFailure=yes",
    "-o",
    "IdentitiesOnly=yes",
    "-o",
    "StrictHostKeyChecking=yes",
    "-o",
    `UserKnownHostsFile=${knownHosts}`,
    "-i",
    sshd.clientKeyPath,
    "-p",
    String(sshd.port),
    "-L",
    `127.0.0.1:${tunnelPort}:127.0.0.1:${exporter.port}`,
    `${sshd.user}@127.0.0.1`,
  ]);
  await waitFor(
    `the ssh tunnel\n${tunnel.output()}`,
    async () => {
      if (tunnel.child.exitCode !== null) throw new Error(`ssh exited: ${tunnel.output()}`);
      const res = await fetch(`http://127.0.0.1:${tunnelPort}/metrics`);
      return (await res.arrayBuffer()).byteLength === exporter.body.length;
    },
    15_000,
  );
  const tunnelCipher = /server->client cipher: (\S+)/.exec(tunnel.output())?.[1] ?? "?";
  return { sshd, exporter, proxy, proxyPort, tunnel, tunnelPort, tunnelCipher };
}

function roundFor(s: Setup, path: Path, concurrency: number): Omit<RoundRequest, "type" | "id"> {
  const hostHeader = `127.0.0.1:${s.exporter.port}`;
  const common = {
    agentKey: `${path}:${concurrency}`,
    hostHeader,
    concurrency,
    expectBytes: s.exporter.body.length,
  };
  if (path === "direct") return { ...common, host: "127.0.0.1", port: s.exporter.port, path: "/metrics" };
  if (path === "tunnel") return { ...common, host: "127.0.0.1", port: s.tunnelPort, path: "/metrics" };
  // Absolute form, as Prometheus sends it to its proxy_url.
  return { ...common, host: "127.0.0.1", port: s.proxyPort, path: s.exporter.url };
}

function pidOf(s: Setup, path: Path): number | undefined {
  if (path === "sshscrape") return s.proxy.child.pid;
  if (path === "tunnel") return s.tunnel.child.pid;
  return undefined;
}

async function measure(s: Setup, gen: Generator): Promise<Map<string, Totals>> {
  const results = new Map<string, Totals>();
  for (const c of CONCURRENCY) {
    // Warm-up (not counted): connections, the proxy's SSH login, JIT.
    for (const path of PATHS) await gen.run({ ...roundFor(s, path, c), durationMs: Math.min(roundMs, 500) });
    for (const path of PATHS)
      results.set(`${path}:${c}`, { ok: 0, errors: 0, wallMs: 0, latencies: [], procCpuMs: 0, genCpuMs: 0 });
    for (let r = 0; r < rounds; r++) {
      // Rotate the order each round so no path always runs right after another.
      const order = PATHS.map((_, i) => PATHS[(i + r) % PATHS.length] as Path);
      for (const path of order) {
        const pid = pidOf(s, path);
        const cpu0 = pid ? cpuMs(pid) : 0;
        const res = await gen.run({ ...roundFor(s, path, c), durationMs: roundMs });
        const t = results.get(`${path}:${c}`) as Totals;
        t.procCpuMs += pid ? cpuMs(pid) - cpu0 : 0;
        t.ok += res.ok;
        t.errors += res.errors;
        t.firstError ??= res.firstError;
        t.wallMs += res.wallMs;
        t.genCpuMs += res.cpuMs;
        for (const l of res.latencies) t.latencies.push(l);
      }
      process.stderr.write(`\rc=${c}: round ${r + 1}/${rounds}`);
    }
    process.stderr.write("\n");
    for (const path of PATHS) {
      const pid = pidOf(s, path);
      const t = results.get(`${path}:${c}`) as Totals;
      if (pid) t.rssBytes = rssBytes(pid);
      t.latencies.sort((a, b) => a - b);
    }
    await gen.closeAgents();
  }
  return results;
}

interface Soak {
  requests: number;
  errors: number;
  firstError?: string;
  seconds: number;
  rssBefore: number;
  rssAfter: number;
  rssMax: number;
  heap: { used: number; total: number; external: number; young: number };
}

async function soak(s: Setup, gen: Generator): Promise<Soak> {
  const pid = s.proxy.child.pid as number;
  const rssBefore = rssBytes(pid);
  let rssMax = rssBefore;
  let done = 0;
  let errors = 0;
  let firstError: string | undefined;
  const t0 = performance.now();
  const chunk = 10_000;
  while (done < soakRequests) {
    const count = Math.min(chunk, soakRequests - done);
    const res = await gen.run({ ...roundFor(s, "sshscrape", 16), agentKey: "soak", count });
    done += res.ok + res.errors;
    errors += res.errors;
    firstError ??= res.firstError;
    rssMax = Math.max(rssMax, rssBytes(pid));
    process.stderr.write(`\rsoak: ${done}/${soakRequests} requests, proxy RSS ${mb(rssBytes(pid))} MB`);
  }
  process.stderr.write("\n");
  const seconds = (performance.now() - t0) / 1000;
  const rssAfter = rssBytes(pid);
  // Where the RSS goes, from the proxy's own process metrics (prom-client's defaults).
  const own = await fetch(`http://127.0.0.1:${s.proxyPort}/metrics`).then((r) => r.text());
  const sample = (name: string) => Number(new RegExp(`^${name}(?:\\{[^}]*\\})? (\\S+)$`, "m").exec(own)?.[1]);
  const heap = {
    used: sample("nodejs_heap_size_used_bytes"),
    total: sample("nodejs_heap_size_total_bytes"),
    external: sample("nodejs_external_memory_bytes"),
    young: Number(/^nodejs_heap_space_size_total_bytes\{space="new"\} (\S+)$/m.exec(own)?.[1]),
  };
  return {
    requests: done,
    errors,
    firstError,
    seconds,
    rssBefore,
    rssAfter,
    rssMax: Math.max(rssMax, rssAfter),
    heap,
  };
}

const mb = (bytes: number) => (bytes / 1024 / 1024).toFixed(1);
const fmt = (n: number, digits = 2) => (Number.isFinite(n) ? n.toFixed(digits) : "–");

function report(s: Setup, results: Map<string, Totals>, soakResult: Soak): void {
  const get = (path: Path, c: number) => results.get(`${path}:${c}`) as Totals;
  const rps = (t: Totals) => t.ok / (t.wallMs / 1000);
  const out: string[] = [];
  const cpuModel = /^model name\s*:\s*(.*)$/m.exec(readFileSync("/proc/cpuinfo", "utf8"))?.[1] ?? "?";
  const nproc = execFileSync("nproc").toString().trim();
  // ssh -V writes to stderr.
  const sshVersion = spawnSync("ssh", ["-V"], { encoding: "utf8" }).stderr.trim() || "?";
  out.push(`## sshscrape benchmark (${new Date().toISOString()})`, "");
  out.push(
    `Machine: ${nproc} CPUs (nproc), ${cpuModel} (${cpus().length} in os.cpus()); Node ${process.version}; ${sshVersion}.`,
  );
  out.push(
    `Body ${s.exporter.body.length} bytes; ${rounds} rounds × ${roundMs} ms per path and concurrency, interleaved; ` +
      `tunnel cipher ${s.tunnelCipher}.`,
    "",
  );
  out.push("| c | path | req/s | p50 ms | p99 ms | CPU ms/req | RSS MB | errors | generator CPU |");
  out.push("|---:|---|---:|---:|---:|---:|---:|---:|---:|");
  for (const c of CONCURRENCY) {
    for (const path of PATHS) {
      const t = get(path, c);
      const cpuPerReq = path === "direct" ? "–" : fmt(t.procCpuMs / t.ok, 3);
      const rss = t.rssBytes === undefined ? "–" : mb(t.rssBytes);
      const genPct = `${fmt((100 * t.genCpuMs) / t.wallMs, 0)} %`;
      out.push(
        `| ${c} | ${path} | ${fmt(rps(t), 0)} | ${fmt(percentile(t.latencies, 50))} | ${fmt(percentile(t.latencies, 99))} | ${cpuPerReq} | ${rss} | ${t.errors} | ${genPct} |`,
      );
    }
  }
  out.push("", "sshscrape / tunnel:", "");
  out.push("| c | req/s | p50 | p99 | CPU per request |", "|---:|---:|---:|---:|---:|");
  for (const c of CONCURRENCY) {
    const a = get("sshscrape", c);
    const b = get("tunnel", c);
    out.push(
      `| ${c} | ${fmt(rps(a) / rps(b))}× | ${fmt(percentile(a.latencies, 50) / percentile(b.latencies, 50))}× | ${fmt(percentile(a.latencies, 99) / percentile(b.latencies, 99))}× | ${fmt(a.procCpuMs / a.ok / (b.procCpuMs / b.ok))}× |`,
    );
  }

  const p50Ratio = percentile(get("sshscrape", 1).latencies, 50) / percentile(get("tunnel", 1).latencies, 50);
  const rpsRatio = rps(get("sshscrape", 16)) / rps(get("tunnel", 16));
  const rssMb = soakResult.rssAfter / 1024 / 1024;
  const verdict = (ok: boolean) => (ok ? "PASS" : "**FAIL**");
  const soakNote =
    soakResult.requests < 100_000 ? ` (only ${soakResult.requests} requests: not the target's 100 000)` : "";
  out.push("", "Targets (issue 2):", "");
  out.push("| target | measured | limit | verdict |", "|---|---|---|---|");
  out.push(
    `| p50 at c=1, sshscrape / tunnel | ${fmt(p50Ratio)}× (${fmt(percentile(get("sshscrape", 1).latencies, 50))} ms vs ${fmt(percentile(get("tunnel", 1).latencies, 50))} ms) | ≤ ${TARGETS.p50RatioC1}× | ${verdict(p50Ratio <= TARGETS.p50RatioC1)} |`,
  );
  out.push(
    `| req/s at c=16, sshscrape / tunnel | ${fmt(rpsRatio)}× (${fmt(rps(get("sshscrape", 16)), 0)} vs ${fmt(rps(get("tunnel", 16)), 0)}) | ≥ ${TARGETS.rpsRatioC16}× | ${verdict(rpsRatio >= TARGETS.rpsRatioC16)} |`,
  );
  out.push(
    `| proxy RSS after ${soakResult.requests} requests${soakNote} | ${fmt(rssMb, 1)} MB (before ${mb(soakResult.rssBefore)}, max ${mb(soakResult.rssMax)}) | ≤ ${TARGETS.rssMb} MB | ${soakNote ? "no verdict" : verdict(rssMb <= TARGETS.rssMb)} |`,
  );
  if (rounds < 10)
    out.push(
      "",
      `Short run (${rounds} rounds per path and concurrency): the ratios swing with machine noise; ` +
        "take verdicts from the default run (10 rounds, 100 000 soak requests).",
    );
  out.push(
    "",
    `Soak: ${soakResult.requests} requests at c=16 in ${fmt(soakResult.seconds, 1)} s (${fmt(soakResult.requests / soakResult.seconds, 0)} req/s), ${soakResult.errors} errors${soakResult.firstError ? ` (first: ${soakResult.firstError})` : ""}.`,
  );

  out.push(
    `Proxy memory after the soak: V8 heap ${mb(soakResult.heap.used)} MB used of ${mb(soakResult.heap.total)} MB, ` +
      `young generation ${mb(soakResult.heap.young)} MB; external (Buffers) ${mb(soakResult.heap.external)} MB; ` +
      `RSS ${mb(soakResult.rssAfter)} MB.`,
  );

  // The generator is not the bottleneck if, with the same generator, direct HTTP goes much faster than the
  // proxied paths, and the generator's CPU while driving them stays well under one core.
  const notes: string[] = [];
  for (const c of CONCURRENCY) {
    const d = rps(get("direct", c));
    const slowest = Math.max(rps(get("tunnel", c)), rps(get("sshscrape", c)));
    const genMax = Math.max(
      ...(["tunnel", "sshscrape"] as Path[]).map((p) => (100 * get(p, c).genCpuMs) / get(p, c).wallMs),
    );
    notes.push(
      `c=${c}: direct ${fmt(d / slowest, 1)}× the faster proxied path, generator ≤ ${fmt(genMax, 0)} % of a core`,
    );
  }
  out.push("", `Generator check: ${notes.join("; ")}.`);
  for (const [key, t] of results) {
    if (t.errors) out.push(`Errors in ${key}: ${t.errors} (first: ${t.firstError})`);
  }
  console.log(out.join("\n"));
}

async function main(): Promise<void> {
  ensureBuilt();
  const s = await setUp();
  const gen = new Generator();
  try {
    console.error(
      `bench: ${rounds} rounds of ${roundMs} ms per path at c=${CONCURRENCY.join(",")}, then ${soakRequests} soak requests`,
    );
    const results = await measure(s, gen);
    const soakResult = await soak(s, gen);
    report(s, results, soakResult);
  } finally {
    gen.stop();
    await s.tunnel.stop();
    await s.proxy.stop();
    await s.exporter.close();
    await s.sshd.stop();
  }
}

main().then(
  () => process.exit(0),
  (err) => {
    console.error(`bench failed: ${(err as Error).stack ?? err}`);
    process.exit(1);
  },
);
