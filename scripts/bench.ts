/**
 * `npm run bench`: sshscrape against a persistent OpenSSH tunnel (`ssh -N -L`), the baseline a user would
 * otherwise run, and against direct HTTP, all measured in one run. Starts a real sshd, a static exporter
 * with a 100 KB body and the built CLI (`node bin/run.js proxy --config …`), whose CPU and RSS are read
 * from /proc/PID. The three paths take turns in short rounds at each concurrency, so machine noise hits all
 * three alike; the load generator is a child process (scripts/bench-load.ts). Then an RSS soak.
 *
 * Prints markdown tables, PASS/FAIL per target of issue 2, and always exits 0 (a benchmark, not a test).
 */
import { execFileSync, spawnSync } from "node:child_process";
import { existsSync, readdirSync, readFileSync, statSync, writeFileSync } from "node:fs";
import { cpus } from "node:os";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { type Exporter, metricsBody, startExporter } from "../test/helpers/exporter.js";
import { freePort, type Started, start, waitFor } from "../test/helpers/processes.js";
import { type Sshd, startSshd } from "../test/helpers/sshd.js";
import type { RoundRequest } from "./bench-load.js";
import { LoadGenerator } from "./bench-load-client.js";
import { rerunInNetns } from "./bench-netns.js";
import { PROXY_UNIT_ENV, parseEnv } from "./bench-scale-lab.js";
import { BEST_TUNNEL, PLAIN_TUNNEL, startTunnel } from "./bench-tunnel.js";
import { treeCpuTicks } from "./proc-tree.js";

const ROOT = join(import.meta.dirname, "..");
const BIN = join(ROOT, "bin/run.js");
const CONCURRENCY = [1, 16, 64] as const;
const BODY_BYTES = 100_000;
/** Issue 2's targets, and issue 14's: p50 and p99 at c=1 against the tunnel, CPU and req/s against main. */
const TARGETS = {
  p50RatioC1: 1.15,
  p99RatioC1: 1.5,
  rpsRatioC16: 0.5,
  rssMb: 120,
  cpuRatioVsB: 0.5,
  rpsRatioVsB: 2,
};

const { values: flags } = parseArgs({
  options: {
    quick: { type: "boolean", default: false },
    duration: { type: "string" },
    round: { type: "string" },
    warmup: { type: "string" },
    soak: { type: "string" },
    "proxy-node-args": { type: "string" },
    "proxy-b": { type: "string" },
    "proxy-b-node-args": { type: "string" },
    "proxy-settings": { type: "string" },
    "proxy-env": { type: "string", default: PROXY_UNIT_ENV },
    "plain-tunnel": { type: "boolean", default: false },
    "no-netns": { type: "boolean", default: false },
    "in-netns": { type: "boolean", default: false },
    help: { type: "boolean", short: "h", default: false },
  },
});
if (flags.help) {
  console.log(`usage: npm run bench -- [--quick] [--duration SECONDS] [--round MS] [--soak REQUESTS]

  --duration SECONDS  measured time per path and concurrency, split into rounds (default 10; --quick: 2)
  --round MS          length of one round; the paths take turns round by round (default 1000; --quick: 500)
  --warmup MS         before the first measured concurrency, each path serves c=16 for MS (default 3000;
                      --quick: 1500; 0: none), so that every process is measured warm, as a proxy in service
                      is: a fresh proxy needs ~1 000–3 000 scrapes before V8 has optimised its hot path
  --soak REQUESTS     requests through the proxy before reading its RSS (default 100000; --quick: 10000; 0: none)
  --proxy-node-args="ARGS"  extra node options for the proxy process, e.g. "--cpu-prof --cpu-prof-dir=/tmp/prof"
  --proxy-b PATH      a second sshscrape build (PATH = its bin/run.js, e.g. a worktree of main) measured as path
                      "sshscrape-B" in the same rounds: a same-run A/B of two versions of the proxy
  --proxy-b-node-args="ARGS"  node options for sshscrape-B only (default: those of --proxy-node-args); with
                      --proxy-b bin/run.js, an A/B of node or V8 flags on the same build
  --proxy-settings=JSON  settings merged into the proxy section of sshscrape's config (not sshscrape-B's),
                      e.g. '{"noDelaySession":true}'
  --proxy-env="K=V …"  environment of both sshscrape builds (default: the NixOS unit's, ${PROXY_UNIT_ENV};
                      "" for none)
  --plain-tunnel      also measure the old baseline, \`ssh -N -L\` with OpenSSH's default cipher, as "tunnel-N"
  --no-netns          skip the second comparison inside a network namespace with loopback MTU 1500`);
  process.exit(0);
}
const durationMs = 1000 * Number(flags.duration ?? (flags.quick ? 2 : 10));
const roundMs = Number(flags.round ?? (flags.quick ? 500 : 1000));
const soakRequests = Number(flags.soak ?? (flags.quick ? 10_000 : 100_000));
const warmupMs = Number(flags.warmup ?? (flags.quick ? 1500 : 3000));
for (const [name, v] of [
  ["--duration", durationMs],
  ["--round", roundMs],
  ["--soak", soakRequests + 1],
  ["--warmup", warmupMs + 1],
] as const) {
  if (!Number.isFinite(v) || v <= 0) {
    console.error(`bench: ${name} must be a positive number`);
    process.exit(2);
  }
}
const rounds = Math.max(1, Math.round(durationMs / roundMs));

type Path = "direct" | "tunnel" | "tunnel-N" | "sshscrape" | "sshscrape-B";
const PATHS: Path[] = [
  "direct",
  "tunnel",
  ...(flags["plain-tunnel"] ? (["tunnel-N"] as const) : []),
  "sshscrape",
  ...(flags["proxy-b"] ? (["sshscrape-B"] as const) : []),
];

interface Totals {
  ok: number;
  errors: number;
  firstError?: string;
  wallMs: number;
  latencies: number[];
  /** CPU of the process that carries the path: the proxy for sshscrape, the ssh client for the tunnel. */
  procCpuMs: number;
  /** CPU of sshd (the listener and every process under it) during this path's rounds. */
  sshdCpuMs: number;
  genCpuMs: number;
  rssBytes?: number;
}

/**
 * Whether the build at `bin` (a bin/run.js) has ssh2's optional native crypto binding: without it ssh2 decrypts
 * through Node's crypto API per packet, at 1.4× the proxy CPU per scrape (docs/benchmarks.md, "The package's
 * crypto path"), so every table says which path it measured.
 */
function cryptoPath(bin: string): string {
  const built = join(bin, "../../node_modules/ssh2/lib/protocol/crypto/build/Release/sshcrypto.node");
  return existsSync(built) ? "ssh2 native crypto binding" : "ssh2 on Node's crypto API (no native binding)";
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

/** CPU of a process and all its descendants (sshd forks a process or two per connection), in ms. */
function treeCpuMs(root: number): number {
  return (treeCpuTicks([root]) * 1000) / CLK_TCK;
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

interface Setup {
  sshd: Sshd;
  exporter: Exporter;
  proxy: Started;
  proxyPort: number;
  proxyB?: { proc: Started; port: number };
  tunnel: Started;
  tunnelPort: number;
  tunnelCipher: string;
  plainTunnel?: { proc: Started; port: number };
}

/**
 * The proxy as users run it (`node bin/run.js proxy --config … --listen …`), from the given build, with the
 * environment the NixOS unit gives it (`--proxy-env`).
 */
async function startProxy(
  bin: string,
  config: string,
  nodeArgText = flags["proxy-node-args"],
): Promise<{ proc: Started; port: number }> {
  const port = await freePort();
  const nodeArgs = nodeArgText?.split(/\s+/).filter(Boolean) ?? [];
  const proc = start(
    process.execPath,
    [...nodeArgs, bin, "proxy", "--config", config, "--listen", `127.0.0.1:${port}`],
    { env: { ...process.env, ...parseEnv(flags["proxy-env"]) } },
  );
  await waitFor(
    `the proxy to listen\n${proc.output()}`,
    () => proc.output().includes('"msg":"listening"'),
    20_000,
  );
  return { proc, port };
}

async function setUp(): Promise<Setup> {
  const sshd = await startSshd({ highLimits: true });
  const exporter = await startExporter({ body: metricsBody(BODY_BYTES) });
  const knownHosts = join(sshd.dir, "known_hosts");
  writeFileSync(knownHosts, `${sshd.knownHostsLine()}\n`);
  const writeConfig = (file: string, settings: Record<string, unknown>) => {
    const path = join(sshd.dir, file);
    writeFileSync(
      path,
      JSON.stringify({
        proxy: { knownHostsFile: knownHosts, ...settings },
        ssh: { user: sshd.user, port: sshd.port, key: { path: sshd.clientKeyPath } },
        targets: [{ host: "127.0.0.1", exporters: [{ name: "bench", port: exporter.port }] }],
      }),
    );
    return path;
  };
  const config = writeConfig("bench-targets.json", {});

  const proxy = await startProxy(
    BIN,
    flags["proxy-settings"]
      ? writeConfig("bench-targets-a.json", JSON.parse(flags["proxy-settings"]))
      : config,
  );
  const proxyB = flags["proxy-b"]
    ? await startProxy(flags["proxy-b"], config, flags["proxy-b-node-args"] ?? flags["proxy-node-args"])
    : undefined;

  // The baseline: what a user without sshscrape runs, at its best (scripts/bench-tunnel.ts).
  const tunnel = await startTunnel(sshd, knownHosts, exporter, BEST_TUNNEL);
  // The old baseline, for comparison: `ssh -N -L` with OpenSSH's defaults.
  const plain = flags["plain-tunnel"]
    ? await startTunnel(sshd, knownHosts, exporter, PLAIN_TUNNEL)
    : undefined;
  return {
    sshd,
    exporter,
    proxy: proxy.proc,
    proxyPort: proxy.port,
    proxyB,
    tunnel: tunnel.proc,
    tunnelPort: tunnel.port,
    tunnelCipher: tunnel.cipher,
    plainTunnel: plain && { proc: plain.proc, port: plain.port },
  };
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
  if (path === "tunnel-N")
    return { ...common, host: "127.0.0.1", port: s.plainTunnel?.port ?? 0, path: "/metrics" };
  // Absolute form, as Prometheus sends it to its proxy_url.
  const port = path === "sshscrape-B" ? (s.proxyB?.port ?? 0) : s.proxyPort;
  return { ...common, host: "127.0.0.1", port, path: s.exporter.url };
}

function pidOf(s: Setup, path: Path): number | undefined {
  if (path === "sshscrape") return s.proxy.child.pid;
  if (path === "sshscrape-B") return s.proxyB?.proc.child.pid;
  if (path === "tunnel") return s.tunnel.child.pid;
  if (path === "tunnel-N") return s.plainTunnel?.proc.child.pid;
  return undefined;
}

/** Concurrency of the warm-up before the first measured concurrency (--warmup). */
const WARMUP_CONCURRENCY = 16;

async function measure(s: Setup, gen: LoadGenerator): Promise<Map<string, Totals>> {
  const results = new Map<string, Totals>();
  // Every path serves WARMUP_CONCURRENCY for warmupMs first, not counted: c=1 is measured first, and a fresh
  // proxy's first ~1 000–3 000 scrapes run before V8 has optimised its hot path (docs/benchmarks.md, "c=1 fixed
  // cost (issue 14, round 5)"), which a proxy in service is long past.
  if (warmupMs > 0) {
    for (const path of PATHS)
      await gen.run({ ...roundFor(s, path, WARMUP_CONCURRENCY), durationMs: warmupMs });
    await gen.closeAgents();
  }
  for (const c of CONCURRENCY) {
    // Warm-up (not counted): connections, the proxy's SSH login, JIT.
    for (const path of PATHS) await gen.run({ ...roundFor(s, path, c), durationMs: Math.min(roundMs, 500) });
    for (const path of PATHS)
      results.set(`${path}:${c}`, {
        ok: 0,
        errors: 0,
        wallMs: 0,
        latencies: [],
        procCpuMs: 0,
        sshdCpuMs: 0,
        genCpuMs: 0,
      });
    for (let r = 0; r < rounds; r++) {
      // Rotate the order each round so no path always runs right after another.
      const order = PATHS.map((_, i) => PATHS[(i + r) % PATHS.length] as Path);
      for (const path of order) {
        const pid = pidOf(s, path);
        const sshdPid = s.sshd.pid() as number;
        const cpu0 = pid ? cpuMs(pid) : 0;
        const sshd0 = treeCpuMs(sshdPid);
        const res = await gen.run({ ...roundFor(s, path, c), durationMs: roundMs });
        const t = results.get(`${path}:${c}`) as Totals;
        t.procCpuMs += pid ? cpuMs(pid) - cpu0 : 0;
        t.sshdCpuMs += treeCpuMs(sshdPid) - sshd0;
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

async function soak(s: Setup, gen: LoadGenerator): Promise<Soak> {
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

function loadAverage(): string {
  return readFileSync("/proc/loadavg", "utf8").split(" ").slice(0, 3).join(" ");
}

function report(s: Setup, results: Map<string, Totals>, soakResult: Soak | undefined, load0: string): string {
  const get = (path: Path, c: number) => results.get(`${path}:${c}`) as Totals;
  const rps = (t: Totals) => t.ok / (t.wallMs / 1000);
  const p = (t: Totals, q: number) => percentile(t.latencies, q);
  const out: string[] = [];
  const cpuModel = /^model name\s*:\s*(.*)$/m.exec(readFileSync("/proc/cpuinfo", "utf8"))?.[1] ?? "?";
  const nproc = execFileSync("nproc").toString().trim();
  // ssh -V writes to stderr.
  const sshVersion = spawnSync("ssh", ["-V"], { encoding: "utf8" }).stderr.trim() || "?";
  const where = flags["in-netns"]
    ? "in a network namespace, loopback MTU 1500"
    : `on the host's loopback (MTU ${readFileSync("/sys/class/net/lo/mtu", "utf8").trim()})`;
  out.push(`## sshscrape benchmark ${where} (${new Date().toISOString()})`, "");
  out.push(
    `Machine: ${nproc} CPUs (nproc), ${cpuModel} (${cpus().length} in os.cpus()); Node ${process.version}; ${sshVersion}. ` +
      `Load average ${load0} at the start, ${loadAverage()} at the end.`,
    `sshscrape: ${cryptoPath(BIN)}${flags["proxy-b"] ? `; sshscrape-B: ${cryptoPath(flags["proxy-b"])}` : ""}.`,
  );
  out.push(
    `Body ${s.exporter.body.length} bytes; ${rounds} rounds × ${roundMs} ms per path and concurrency, interleaved` +
      `${warmupMs > 0 ? `, after ${warmupMs} ms of c=${WARMUP_CONCURRENCY} per path (not counted)` : ""}; ` +
      `tunnel: \`ssh -tt -c ${s.tunnelCipher} -L …\`${flags["plain-tunnel"] ? "; tunnel-N: `ssh -N -L …` with OpenSSH's defaults" : ""}` +
      `${flags["proxy-settings"] ? `; sshscrape's proxy settings: ${flags["proxy-settings"]}` : ""}` +
      `${flags["proxy-b"] ? `; sshscrape-B: ${flags["proxy-b"]}${flags["proxy-b-node-args"] ? ` with node ${flags["proxy-b-node-args"]}` : ""}` : ""}` +
      `; environment of the sshscrape builds: ${flags["proxy-env"] || "none added"}.`,
    "",
  );
  out.push(
    "| c | path | req/s | p50 ms | p99 ms | CPU ms/req | sshd CPU ms/req | RSS MB | errors | generator CPU |",
  );
  out.push("|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|");
  for (const c of CONCURRENCY) {
    for (const path of PATHS) {
      const t = get(path, c);
      const cpuPerReq = path === "direct" ? "–" : fmt(t.procCpuMs / t.ok, 3);
      const sshdPerReq = path === "direct" ? "–" : fmt(t.sshdCpuMs / t.ok, 3);
      const rss = t.rssBytes === undefined ? "–" : mb(t.rssBytes);
      const genPct = `${fmt((100 * t.genCpuMs) / t.wallMs, 0)} %`;
      out.push(
        `| ${c} | ${path} | ${fmt(rps(t), 0)} | ${fmt(p(t, 50))} | ${fmt(p(t, 99))} | ${cpuPerReq} | ${sshdPerReq} | ${rss} | ${t.errors} | ${genPct} |`,
      );
    }
  }
  const ratios = (a: Path, b: Path) => {
    out.push("", `${a} / ${b}:`, "");
    out.push("| c | req/s | p50 | p99 | CPU per request |", "|---:|---:|---:|---:|---:|");
    for (const c of CONCURRENCY) {
      const x = get(a, c);
      const y = get(b, c);
      out.push(
        `| ${c} | ${fmt(rps(x) / rps(y))}× | ${fmt(p(x, 50) / p(y, 50))}× | ${fmt(p(x, 99) / p(y, 99))}× | ${fmt(x.procCpuMs / x.ok / (y.procCpuMs / y.ok))}× |`,
      );
    }
  };
  ratios("sshscrape", "tunnel");
  if (flags["proxy-b"]) {
    ratios("sshscrape-B", "tunnel");
    ratios("sshscrape", "sshscrape-B");
  }
  if (flags["plain-tunnel"]) ratios("tunnel-N", "tunnel");

  const s1 = get("sshscrape", 1);
  const t1 = get("tunnel", 1);
  const p50Ratio = p(s1, 50) / p(t1, 50);
  const p99Ratio = p(s1, 99) / p(t1, 99);
  const rpsRatio = rps(get("sshscrape", 16)) / rps(get("tunnel", 16));
  const verdict = (ok: boolean) => (ok ? "PASS" : "**FAIL**");
  out.push("", "Targets (issues 2 and 14):", "");
  out.push("| target | measured | limit | verdict |", "|---|---|---|---|");
  out.push(
    `| p50 at c=1, sshscrape / tunnel | ${fmt(p50Ratio)}× (${fmt(p(s1, 50))} ms vs ${fmt(p(t1, 50))} ms) | ≤ ${TARGETS.p50RatioC1}× | ${verdict(p50Ratio <= TARGETS.p50RatioC1)} |`,
  );
  out.push(
    `| p99 at c=1, sshscrape / tunnel | ${fmt(p99Ratio)}× (${fmt(p(s1, 99))} ms vs ${fmt(p(t1, 99))} ms) | ≤ ${TARGETS.p99RatioC1}× | ${verdict(p99Ratio <= TARGETS.p99RatioC1)} |`,
  );
  out.push(
    `| req/s at c=16, sshscrape / tunnel | ${fmt(rpsRatio)}× (${fmt(rps(get("sshscrape", 16)), 0)} vs ${fmt(rps(get("tunnel", 16)), 0)}) | ≥ ${TARGETS.rpsRatioC16}× | ${verdict(rpsRatio >= TARGETS.rpsRatioC16)} |`,
  );
  if (flags["proxy-b"]) {
    for (const c of [16, 64]) {
      const a = get("sshscrape", c);
      const b = get("sshscrape-B", c);
      const ratio = a.procCpuMs / a.ok / (b.procCpuMs / b.ok);
      out.push(
        `| proxy CPU per scrape at c=${c}, sshscrape / sshscrape-B | ${fmt(ratio)}× (${fmt(a.procCpuMs / a.ok, 3)} vs ${fmt(b.procCpuMs / b.ok, 3)} ms) | ≤ ${TARGETS.cpuRatioVsB}× | ${verdict(ratio <= TARGETS.cpuRatioVsB)} |`,
      );
    }
    const r = rps(get("sshscrape", 16)) / rps(get("sshscrape-B", 16));
    out.push(
      `| req/s at c=16, sshscrape / sshscrape-B | ${fmt(r)}× | ≥ ${TARGETS.rpsRatioVsB}× | ${verdict(r >= TARGETS.rpsRatioVsB)} |`,
    );
  }
  if (soakResult) {
    const rssMb = soakResult.rssAfter / 1024 / 1024;
    const soakNote =
      soakResult.requests < 100_000
        ? ` (only ${soakResult.requests} requests: not the target's 100 000)`
        : "";
    out.push(
      `| proxy RSS after ${soakResult.requests} requests${soakNote} | ${fmt(rssMb, 1)} MB (before ${mb(soakResult.rssBefore)}, max ${mb(soakResult.rssMax)}) | ≤ ${TARGETS.rssMb} MB | ${soakNote ? "no verdict" : verdict(rssMb <= TARGETS.rssMb)} |`,
    );
  }
  if (rounds < 10)
    out.push(
      "",
      `Short run (${rounds} rounds per path and concurrency): the ratios swing with machine noise; ` +
        "take verdicts from the default run (10 rounds, 100 000 soak requests).",
    );
  if (soakResult) {
    out.push(
      "",
      `Soak: ${soakResult.requests} requests at c=16 in ${fmt(soakResult.seconds, 1)} s (${fmt(soakResult.requests / soakResult.seconds, 0)} req/s), ${soakResult.errors} errors${soakResult.firstError ? ` (first: ${soakResult.firstError})` : ""}.`,
    );
    out.push(
      `Proxy memory after the soak: V8 heap ${mb(soakResult.heap.used)} MB used of ${mb(soakResult.heap.total)} MB, ` +
        `young generation ${mb(soakResult.heap.young)} MB; external (Buffers) ${mb(soakResult.heap.external)} MB; ` +
        `RSS ${mb(soakResult.rssAfter)} MB.`,
    );
  }

  // The generator is not the bottleneck if, with the same generator, direct HTTP goes much faster than the
  // proxied paths, and the generator's CPU while driving them stays well under one core.
  const notes: string[] = [];
  const proxied = PATHS.filter((x) => x !== "direct");
  for (const c of CONCURRENCY) {
    const d = rps(get("direct", c));
    const fastest = Math.max(...proxied.map((x) => rps(get(x, c))));
    const genMax = Math.max(...proxied.map((x) => (100 * get(x, c).genCpuMs) / get(x, c).wallMs));
    notes.push(
      `c=${c}: direct ${fmt(d / fastest, 1)}× the fastest proxied path, generator ≤ ${fmt(genMax, 0)} % of a core`,
    );
  }
  out.push("", `Generator check: ${notes.join("; ")}.`);
  for (const [key, t] of results) {
    if (t.errors) out.push(`Errors in ${key}: ${t.errors} (first: ${t.firstError})`);
  }
  return out.join("\n");
}

/**
 * The same comparison inside a new network namespace whose loopback has MTU 1500, as on a real network
 * (the host's 64 KB loopback MTU hides per-packet costs: 100 KB is two TCP segments there, ~70 at 1500).
 * Needs root (or user namespaces); the namespace goes away with the child.
 */
function runInNetns(): string {
  const passOn = process.argv.slice(2);
  const res = rerunInNetns(import.meta.filename, [...passOn, "--soak", "0"], {
    cwd: ROOT,
    encoding: "utf8",
    stdio: ["ignore", "pipe", "inherit"],
    maxBuffer: 64 * 1024 * 1024,
  });
  if (res.status !== 0)
    return `## In a network namespace with loopback MTU 1500\n\nNot run: \`unshare -n\` failed (status ${res.status}${res.error ? `, ${res.error.message}` : ""}); it needs root or user namespaces.`;
  return res.stdout.trim();
}

async function main(): Promise<void> {
  if (!flags["in-netns"]) ensureBuilt();
  const load0 = loadAverage();
  const s = await setUp();
  const gen = new LoadGenerator();
  let text: string;
  try {
    console.error(
      `bench${flags["in-netns"] ? " (netns, MTU 1500)" : ""}: ${rounds} rounds of ${roundMs} ms per path at c=${CONCURRENCY.join(",")}, then ${soakRequests} soak requests`,
    );
    const results = await measure(s, gen);
    const soakResult = soakRequests > 0 ? await soak(s, gen) : undefined;
    text = report(s, results, soakResult, load0);
  } finally {
    gen.stop();
    await s.tunnel.stop();
    await s.plainTunnel?.proc.stop();
    await s.proxy.stop();
    await s.proxyB?.proc.stop();
    await s.exporter.close();
    await s.sshd.stop();
  }
  console.log(text);
  if (!flags["in-netns"] && !flags["no-netns"]) console.log(`\n${runInNetns()}`);
}

main().then(
  () => process.exit(0),
  (err) => {
    console.error(`bench failed: ${(err as Error).stack ?? err}`);
    process.exit(1);
  },
);
