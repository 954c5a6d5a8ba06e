/**
 * Scale benchmark (a script, not a test): N targets on loopback aliases, each a distinct host:port reached
 * through its own SSH connection, scraped by Debian's real Prometheus through `sshscrape proxy` every 15 s.
 *
 *   npm run build && npm run bench:scale -- [--targets 1000] [--duration 120s] [--interval 15s] [--json]
 *
 * sshd listens on at most 16 sockets (OpenSSH sshd.c, MAX_LISTEN_SOCKS), so the N
 * aliases are served by ceil(N / 16) sshd processes that share one port and one authorized key, each with
 * its own host key (all in the proxy's known_hosts). Listening on 0.0.0.0 instead would also expose the
 * test sshd on the machine's real interfaces.
 *
 * The exporter body is a real node_exporter page captured from Debian's prometheus-node-exporter on this
 * machine, served gzip-compressed when Prometheus asks (as node_exporter itself does).
 *
 * The run has a warm-up (until every target's latest scrape succeeded: each has its SSH connection) and a
 * measured steady state of --duration. Both are reported; the failed-scrapes goal counts both, the CPU goal
 * judges the steady state. Results and their reading: docs/benchmarks-scale.md.
 */
import { execFileSync } from "node:child_process";
import { createWriteStream, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { cpus, tmpdir, totalmem } from "node:os";
import { join, resolve } from "node:path";
import { parseArgs } from "node:util";
import { gzipSync } from "node:zlib";
import { stringify } from "yaml";
import { parseDuration } from "../src/config/index.js";
import { type MetricSample, proxyMetrics, select, sum } from "../test/e2e/proxy-client.js";
import { type RunningCli, startProxyCli } from "../test/e2e/proxy-process.js";
import { metricsBody } from "../test/helpers/exporter.js";
import { startNodeExporter } from "../test/helpers/node-exporter.js";
import { freePort, waitFor } from "../test/helpers/processes.js";
import { type Prometheus, startPrometheus } from "../test/helpers/prometheus.js";
import type { Sshd } from "../test/helpers/sshd.js";
import {
  alias,
  type Cleanups,
  EXPORTER_STYLES,
  type ExporterStyle,
  PROXY_UNIT_ENV,
  parseEnv,
  runCleanups,
  SSHD_MAX_LISTEN,
  startSshds,
  startStaticExporter,
} from "./bench-scale-lab.js";
import { type GcLine, type GcSummary, parseNvp, summarize, summaryRows } from "./gc-nvp.js";
import { attributeStalls, type Span, type StallSummary } from "./scrape-stalls.js";

const EXPORTER_SERVERS = 10;

const { values: flags } = parseArgs({
  options: {
    targets: { type: "string", default: "1000" },
    duration: { type: "string", default: "120s" },
    interval: { type: "string", default: "15s" },
    json: { type: "boolean", default: false },
    /** proxy.maxHandshakes in the target list; unset = the proxy's default. */
    "max-handshakes": { type: "string" },
    /** A synthetic body of about this many bytes instead of the captured node_exporter page. */
    "body-bytes": { type: "string" },
    /**
     * How Prometheus and the proxy start (docs/benchmarks-scale.md, "Start-up"):
     * - after-ready: proxy.preconnect on (the default); Prometheus starts once /readyz answers 200, as the
     *   generated systemd unit orders it (ExecStartPost waits for /readyz; Before=prometheus.service);
     * - together: preconnect on, Prometheus started at the same moment (no ordering, e.g. plain containers);
     * - cold: proxy.preconnect off and Prometheus at once: every first scrape waits for its handshake.
     */
    start: { type: "string", default: "after-ready" },
    /** Node flags for the proxy process, space-separated, e.g. "--cpu-prof --cpu-prof-dir=/tmp/prof". */
    "proxy-node-args": { type: "string" },
    /** Another build's bin/run.js (e.g. main's, for a back-to-back A/B); default: this tree's. */
    "proxy-cli": { type: "string" },
    /**
     * The proxy's environment, space-separated KEY=VALUE; by default what the NixOS unit sets
     * (PROXY_UNIT_ENV, nix/module.nix `Environment`). "" for none.
     */
    "proxy-env": { type: "string", default: PROXY_UNIT_ENV },
    /**
     * Prometheus also scrapes the proxy's own /metrics every interval, as the NixOS module's job "sshscrape"
     * does (services.sshscrape.alertRules.enable): at 2 000 targets a 2.8 MB page of ~38 000 lines.
     */
    "self-scrape": { type: "boolean", default: false },
    /** Split the targets across this many proxies + Prometheus servers (scripts/bench-scale-shards.ts). */
    shards: { type: "string" },
    /**
     * How the static exporters answer (bench-scale-lab.ts, startStaticExporter): "go" as node_exporter
     * (no idle timeout, chunked; the default) or "node" (node:http's defaults: Keep-Alive: timeout=5).
     */
    exporter: { type: "string", default: "go" },
    /**
     * Runs the proxy with V8's `--trace-gc-nvp` and summarises the GCs of the steady window (scripts/gc-nvp.ts):
     * scavenges per second, pause quantiles, phases, mark-compacts; and the young generation's size at the end.
     */
    "gc-stats": { type: "boolean", default: false },
    /**
     * With --gc-stats: the proxy also runs a 2 ms timer that records each gap of > 4 ms in its event loop
     * (scripts/gc-marks.mjs, LAG_TIMELINE_OUT), to tell which slow scrapes overlapped one. ~500 wake-ups a
     * second in the proxy: for diagnosis, not for A/Bs of the p99.
     */
    "loop-gaps": { type: "boolean", default: false },
    /**
     * The baseline job scrapes each of the 10 exporters this many times over (as distinct targets, label
     * `copy`), so that its steady p99 is read from ~copies × 60 samples in a 90 s window instead of 60 (with
     * 1, the p99 of the direct scrapes is their maximum). Rounds 1–5 ran with 1.
     */
    "direct-copies": { type: "string", default: "20" },
  },
});
if (flags.shards !== undefined) {
  const { runShards } = await import("./bench-scale-shards.js");
  process.exit(await runShards(flags));
}
const exporterStyle = flags.exporter as ExporterStyle;
if (!EXPORTER_STYLES.includes(exporterStyle))
  throw new Error(`--exporter: expected ${EXPORTER_STYLES.join(", ")}, got ${flags.exporter}`);
const START_MODES = ["after-ready", "together", "cold"] as const;
type StartMode = (typeof START_MODES)[number];
const startMode = flags.start as StartMode;
if (!START_MODES.includes(startMode))
  throw new Error(`--start: expected ${START_MODES.join(", ")}, got ${flags.start}`);
const N = Number(flags.targets);
if (!Number.isInteger(N) || N < 1 || N > 60_000)
  throw new Error(`--targets: expected 1–60000, got ${flags.targets}`);
const durationMs = parseDuration(flags.duration);
const intervalMs = parseDuration(flags.interval);
const intervalS = intervalMs / 1000;
const directCopies = Number(flags["direct-copies"]);
if (!Number.isInteger(directCopies) || directCopies < 1 || directCopies > 200)
  throw new Error(`--direct-copies: expected 1–200, got ${flags["direct-copies"]}`);

const log = (msg: string) =>
  process.stderr.write(`[bench:scale ${new Date().toISOString().slice(11, 19)}] ${msg}\n`);
const cleanups: Cleanups = [];

interface ProcSample {
  ticks: number;
  rssBytes: number;
  /** RSS split (proc(5)): anonymous (V8 heap, malloc, stacks) and file-backed (the node binary's pages). */
  rssAnonBytes: number;
  rssFileBytes: number;
}
const ZERO: ProcSample = { ticks: 0, rssBytes: 0, rssAnonBytes: 0, rssFileBytes: 0 };
const CLK_TCK = Number(execFileSync("getconf", ["CLK_TCK"]).toString().trim());
/** utime + stime (proc(5): /proc/PID/stat fields 14 and 15, in clock ticks) and VmRSS. */
function procSample(pid: number): ProcSample {
  const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
  // The command name (field 2) may contain spaces; fields after it are space-separated.
  const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  const ticks = Number(fields[11]) + Number(fields[12]);
  const status = readFileSync(`/proc/${pid}/status`, "utf8");
  const kb = (field: string) => Number(new RegExp(`${field}:\\s+(\\d+) kB`).exec(status)?.[1] ?? 0) * 1024;
  return { ticks, rssBytes: kb("VmRSS"), rssAnonBytes: kb("RssAnon"), rssFileBytes: kb("RssFile") };
}

/** Busy and total jiffies of the whole machine (proc(5): the first "cpu" line of /proc/stat). */
function machineTicks(): { busy: number; total: number } {
  const f = (readFileSync("/proc/stat", "utf8").split("\n")[0] ?? "")
    .trim()
    .split(/\s+/)
    .slice(1)
    .map(Number);
  const total = f.reduce((a, b) => a + b, 0);
  const idle = (f[3] ?? 0) + (f[4] ?? 0);
  return { busy: total - idle, total };
}

/**
 * CPU ticks of `roots` and every live descendant (sshd forks two processes per connection), including
 * what their reaped children used (cutime + cstime: sshd's pre-auth child exits after login).
 */
function treeTicks(roots: number[]): number {
  const parent = new Map<number, number>();
  for (const name of readdirSync("/proc")) {
    if (!/^\d+$/.test(name)) continue;
    try {
      const stat = readFileSync(`/proc/${name}/stat`, "utf8");
      parent.set(Number(name), Number(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[1]));
    } catch {
      // exited meanwhile
    }
  }
  const inTree = new Set(roots);
  let grew = true;
  while (grew) {
    grew = false;
    for (const [pid, ppid] of parent)
      if (!inTree.has(pid) && inTree.has(ppid)) {
        inTree.add(pid);
        grew = true;
      }
  }
  let ticks = 0;
  for (const pid of inTree) {
    try {
      const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
      const f = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
      ticks += Number(f[11]) + Number(f[12]) + Number(f[13]) + Number(f[14]);
    } catch {
      // exited meanwhile
    }
  }
  return ticks;
}

function quantile(sorted: number[], q: number): number {
  if (sorted.length === 0) return Number.NaN;
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1))] as number;
}

async function captureNodeExporterBody(): Promise<Buffer> {
  const ne = await startNodeExporter({ collectors: "defaults" });
  try {
    const res = await fetch(ne.url, { headers: { "accept-encoding": "identity" } });
    return Buffer.from(await res.arrayBuffer());
  } finally {
    await ne.stop();
  }
}

interface Result {
  machine: string;
  targets: number;
  sshdProcesses: number;
  intervalS: number;
  measuredS: number;
  bodyBytes: number;
  bodyGzipBytes: number;
  samplesPerScrape: number;
  warmupS: number;
  startMode: StartMode;
  /** With --start after-ready: seconds from the proxy's start until /readyz said 200 and Prometheus started. */
  readyS?: number;
  /** /readyz's answer at that moment. */
  readyText?: string;
  scrapes: number;
  failedScrapes: number;
  warmupScrapes: number;
  warmupFailedScrapes: number;
  /** Seconds from Prometheus' start until every target had one successful scrape, via the proxy / direct. */
  firstUpViaProxyS: number;
  firstUpDirectS: number;
  directTargets: number;
  /** Failed scrapes of the direct job (no proxy, no SSH) in the same warm-up. */
  directWarmupFailedScrapes: number;
  /** Each target's first scrape: p50 and p99 duration, ms, via the proxy / direct. */
  firstScrapeViaProxyMs: number[];
  firstScrapeDirectMs: number[];
  scrapeDurationP50Ms: number;
  scrapeDurationP99Ms: number;
  scrapeDurationMaxMs: number;
  wholeRunP50Ms: number;
  wholeRunP99Ms: number;
  directP50Ms: number;
  directP99Ms: number;
  proxyRssMaxMB: number;
  /** At the RSS maximum: anonymous and file-backed RSS, and seconds after the steady state began (< 0: warm-up). */
  proxyRssMaxAnonMB: number;
  proxyRssMaxFileMB: number;
  proxyRssMaxAtS: number;
  /** V8 heap used / committed and external memory at the end (the proxy's own /metrics). */
  proxyHeapEndMB: string;
  proxyExternalEndMB: number;
  proxyCli: string;
  proxyEnv: string;
  selfScrape: boolean;
  proxyRssEndMB: number;
  proxyCpuSteadyPct: number;
  warmupProxyCpuPct: number;
  /** Proxy CPU from its start until /readyz said 200 (start-up + preconnect), ÷ targets (after-ready only). */
  readyCpuPerHandshakeMs?: number;
  /** Proxy CPU from its start until the steady state (also the first round of scrapes), ÷ targets. */
  warmupCpuPerHandshakeMs: number;
  warmupSshdCpuPct: number;
  warmupPrometheusCpuPct: number;
  /** This script's own process: the ten static exporters and the polling. */
  warmupBenchCpuPct: number;
  warmupMachineBusyPct: number;
  prometheusCpuPct: number;
  sshdCpuPct: number;
  benchCpuPct: number;
  machineBusyPct: number;
  loadAverage: string;
  proxyEventLoopLagP99Ms: number;
  proxyRequestMeanMs: number;
  proxyCpuWholeRunPct: number;
  sshConnections: number;
  /** Open direct-tcpip channels at the end (idle keep-alive channels included). */
  sshChannels: number;
  exporterStyle: ExporterStyle;
  handshakesTotal: number;
  handshakeFailures: number;
  hostsWithOtherThanOneHandshake: number;
  proxyRequestsByCode: Record<string, number>;
  /** Most frequent proxy warnings (numbers in messages folded to N), whole run. */
  proxyWarnings: Record<string, number>;
  proxyLog: string;
  /** `--gc-stats`: the steady window's GCs (scripts/gc-nvp.ts) and the new space's size at the end. */
  gc?: GcSummary & {
    newSpaceEndMB: number;
    semiSpaceEndMB: number;
    stalls?: StallSummary;
    tailShares: string[];
  };
  goals: Record<string, boolean>;
}

async function main(): Promise<Result> {
  const dir = mkdtempSync(join(tmpdir(), "sshscrape-bench-scale-"));
  cleanups.push(() => rmSync(dir, { recursive: true, force: true }));

  log("capturing a real node_exporter page");
  const body = flags["body-bytes"]
    ? metricsBody(Number(flags["body-bytes"]))
    : await captureNodeExporterBody();
  const gz = gzipSync(body);
  const samplesPerScrape = body
    .toString()
    .split("\n")
    .filter((l) => l !== "" && !l.startsWith("#")).length;
  const exporters = await Promise.all(
    Array.from({ length: EXPORTER_SERVERS }, () => startStaticExporter(body, gz, exporterStyle)),
  );
  for (const e of exporters) cleanups.push(() => new Promise((r) => e.server.close(r)));
  const exporterPort = (i: number) => (exporters[i % EXPORTER_SERVERS] as { port: number }).port;

  const sshPort = await freePort();
  log(
    `starting ${Math.ceil(N / SSHD_MAX_LISTEN)} sshd processes for ${N} loopback aliases on port ${sshPort}`,
  );
  const sshds = await startSshds(N, sshPort, cleanups);
  const first = sshds[0] as Sshd;
  const knownHostsFile = join(dir, "known_hosts");
  writeFileSync(knownHostsFile, `${sshds.map((s) => s.knownHostsLine()).join("\n")}\n`);

  const proxyPort = await freePort();
  const listFile = join(dir, "targets.yaml");
  writeFileSync(
    listFile,
    stringify({
      proxy: {
        listen: `127.0.0.1:${proxyPort}`,
        knownHostsFile,
        ...(flags["max-handshakes"] ? { maxHandshakes: Number(flags["max-handshakes"]) } : {}),
        ...(startMode === "cold" ? { preconnect: false } : {}),
      },
      ssh: { user: first.user, port: sshPort, key: { path: first.clientKeyPath } },
      targets: Array.from({ length: N }, (_, i) => ({
        host: alias(i),
        exporters: [{ name: "node", port: exporterPort(i) }],
      })),
    }),
  );
  const proxyStartedAt = Date.now();
  // `--gc-stats`: GC lines on stdout, and gc-marks.mjs writes the GCs and event-loop gaps between two SIGUSR2s.
  // Kept after the run, next to the proxy's log.
  const gcTimeline = join(tmpdir(), `sshscrape-bench-scale-gc-${process.pid}.json`);
  const lagTimeline = join(tmpdir(), `sshscrape-bench-scale-loop-gaps-${process.pid}.json`);
  const proxyEnv = {
    ...parseEnv(flags["proxy-env"]),
    ...(flags["gc-stats"] ? { GC_TIMELINE_OUT: gcTimeline } : {}),
    ...(flags["gc-stats"] && flags["loop-gaps"] ? { LAG_TIMELINE_OUT: lagTimeline } : {}),
  };
  const proxy: RunningCli = await startProxyCli(
    listFile,
    [],
    [
      ...(flags["proxy-node-args"]?.split(" ").filter(Boolean) ?? []),
      ...(flags["gc-stats"]
        ? ["--trace-gc-nvp", "--import", new URL("./gc-marks.mjs", import.meta.url).pathname]
        : []),
    ],
    { cli: flags["proxy-cli"] ? resolve(flags["proxy-cli"]) : undefined, env: proxyEnv },
  );
  cleanups.push(() => proxy.stop());
  const proxyPid = proxy.pid() as number;
  // Every warning the proxy logs (pino JSON lines), kept for the summary and in a file for reading later.
  const proxyLog = join(tmpdir(), `sshscrape-bench-scale-proxy-${process.pid}.log`);
  const logStream = createWriteStream(proxyLog);
  const warnings = new Map<string, number>();
  /** `--gc-stats`: V8's GC lines, on the isolate's clock (ms since it started, ~ since proxyStartedAt). */
  const gcLines: GcLine[] = [];
  let partial = "";
  proxy.child.stdout?.on("data", (d: Buffer) => {
    logStream.write(d);
    const lines = (partial + d.toString()).split("\n");
    partial = lines.pop() ?? "";
    for (const line of lines) {
      if (flags["gc-stats"] && line.includes(" ms: pause=")) {
        gcLines.push(...parseNvp(line));
        continue;
      }
      try {
        const entry = JSON.parse(line) as { level?: number; code?: string; error?: string; msg?: string };
        if ((entry.level ?? 0) < 40) continue;
        const key = `${entry.code ?? entry.msg}: ${(entry.error ?? "").replace(/\d+(\.\d+)*/g, "N")}`;
        warnings.set(key, (warnings.get(key) ?? 0) + 1);
      } catch {
        // not a log line
      }
    }
  });
  cleanups.push(() => new Promise((resolve) => logStream.end(resolve)));
  const sshdPids = sshds.map((x) => x.pid() as number);
  const warm0 = { sshd: treeTicks(sshdPids), machine: machineTicks(), at: Date.now() };

  let readyS: number | undefined;
  /** Proxy CPU ticks when /readyz said 200: start-up plus the preconnect handshakes. */
  let readyTicks: number | undefined;
  let readyText: string | undefined;
  if (startMode === "after-ready") {
    // What the generated unit's ExecStartPost does before systemd starts Prometheus: wait for /readyz.
    const readyz = `${proxy.url}/readyz`;
    await waitFor("the proxy's /readyz to answer 200", async () => (await fetch(readyz)).ok, 300_000);
    readyS = (Date.now() - proxyStartedAt) / 1000;
    readyTicks = procSample(proxyPid).ticks;
    readyText = (await (await fetch(readyz)).text()).trim();
    log(`${readyText} — ${readyS.toFixed(1)} s after the proxy started; starting Prometheus`);
  }
  const promStartedAt = Date.now();
  const benchCpu0 = process.cpuUsage();
  const prometheus: Prometheus = await startPrometheus({
    config: {
      global: { scrape_interval: `${intervalS}s`, scrape_timeout: `${Math.min(10, intervalS)}s` },
      scrape_configs: [
        {
          job_name: "node",
          proxy_url: proxy.url,
          static_configs: [
            { targets: Array.from({ length: N }, (_, i) => `${alias(i)}:${exporterPort(i)}`) },
          ],
        },
        // Baseline in the same run: the same exporters scraped without SSH or proxy.
        {
          job_name: "direct",
          static_configs: Array.from({ length: directCopies }, (_, copy) => ({
            targets: exporters.map((e) => `127.0.0.1:${e.port}`),
            labels: { copy: String(copy) },
          })),
        },
        ...(flags["self-scrape"]
          ? [{ job_name: "sshscrape", static_configs: [{ targets: [`127.0.0.1:${proxyPort}`] }] }]
          : []),
      ],
    },
    readyTimeoutMs: 60_000,
  });
  cleanups.push(() => prometheus.stop());

  let rssMax = 0;
  /** The sample with the most RSS, and when it was taken. */
  let atMax: { sample: ProcSample; at: number } | undefined;
  const sampleRss = (sample: ProcSample) => {
    if (sample.rssBytes <= rssMax) return;
    rssMax = sample.rssBytes;
    atMax = { sample, at: Date.now() };
  };
  const rssTimer = setInterval(() => sampleRss(procSample(proxyPid)), 1000);
  cleanups.push(() => clearInterval(rssTimer));

  log(`prometheus up; waiting until the latest scrape of all ${N} targets succeeded`);
  const warmupStart = Date.now();
  let lastProgress = warmupStart;
  await waitFor(
    `a successful scrape of all ${N} targets`,
    async () => {
      const ok = (await prometheus.query('count(up{job="node"} == 1)'))[0]?.value ?? 0;
      if (Date.now() - lastProgress >= 5000) {
        lastProgress = Date.now();
        const m = await proxyMetrics(proxy.url);
        const hs = sum(select(m, "sshscrape_ssh_handshakes_total", { result: "success" }));
        log(
          `warm-up: ${ok}/${N} targets up, ${hs} handshakes, ${sum(select(m, "sshscrape_ssh_channels"))} channels open`,
        );
      }
      return ok >= N;
    },
    10 * intervalMs + 60_000,
  );
  // From here every target has its SSH connection: the steady state the goals are about. The warm-up
  // (1 000 handshakes, which here all land on ONE machine's sshd instead of 1 000 machines) is reported
  // separately.
  // The proxy's own request histogram at the start of the window (--gc-stats compares its tail with Prometheus').
  const histogramStart = flags["gc-stats"] ? await proxyMetrics(proxy.url) : [];
  const steadyStart = procSample(proxyPid);
  const promPid = prometheus.pid() as number;
  const benchCpu1 = process.cpuUsage();
  const others0 = {
    sshd: treeTicks(sshdPids),
    prometheus: procSample(promPid).ticks,
    machine: machineTicks(),
  };
  const load0 = readFileSync("/proc/loadavg", "utf8").split(" ")[0];
  const steadyStartAt = Date.now();
  if (flags["gc-stats"]) process.kill(proxyPid, "SIGUSR2");
  const warmupS = (steadyStartAt - warmupStart) / 1000;
  log(`all targets scraped successfully after ${warmupS.toFixed(1)} s; measuring for ${durationMs / 1000} s`);
  await new Promise((r) => setTimeout(r, durationMs));
  const end = procSample(proxyPid);
  const benchCpu2 = process.cpuUsage();
  const others1 = {
    sshd: treeTicks(sshdPids),
    prometheus: procSample(promPid).ticks,
    machine: machineTicks(),
  };
  const load1 = readFileSync("/proc/loadavg", "utf8").split(" ")[0];
  const endAt = Date.now();
  sampleRss(end);
  // …and at its end, before the bench's own queries load Prometheus and the machine.
  const histogramEnd = flags["gc-stats"] ? await proxyMetrics(proxy.url) : [];
  if (flags["gc-stats"]) {
    process.kill(proxyPid, "SIGUSR2");
    await new Promise((r) => setTimeout(r, 500));
  }

  const windowS = Math.ceil((endAt - proxyStartedAt) / 1000) + intervalS;
  const evalAt = endAt / 1000;
  // Each job's stored series, read once: every figure below is derived from these four matrices.
  const matrix = (metric: string, job: string) =>
    prometheus.queryMatrix(`${metric}{job="${job}"}[${windowS}s]`, evalAt);
  const upSeries = await matrix("up", "node");
  const upDirect = await matrix("up", "direct");
  const durationSeries = {
    node: await matrix("scrape_duration_seconds", "node"),
    direct: await matrix("scrape_duration_seconds", "direct"),
  };
  let scrapes = 0;
  let failed = 0;
  let warmupScrapes = 0;
  let warmupFailed = 0;
  for (const s of upSeries)
    for (const v of s.values) {
      const steady = v.time >= steadyStartAt / 1000;
      if (steady) scrapes++;
      else warmupScrapes++;
      if (v.value !== 1) {
        if (steady) failed++;
        else warmupFailed++;
      }
    }
  failed += N - upSeries.length;
  // Milliseconds, sorted; `fromS` drops the warm-up (each target's first scrape carries its SSH handshake).
  const durations = (job: keyof typeof durationSeries, fromS = 0) =>
    durationSeries[job]
      .flatMap((s) => s.values.filter((v) => v.time >= fromS).map((v) => v.value * 1000))
      .sort((a, b) => a - b);
  /**
   * Per job: seconds from Prometheus' start until every target had its first successful scrape (from the
   * stored `up` series, so no extra queries during the warm-up), and the first scrapes' durations (ms, sorted).
   * The direct job's time says how long Prometheus and the machine themselves take for the fleet's first
   * round; the proxied job's excess over it is what the proxy path adds.
   */
  const firstScrapes = (job: keyof typeof durationSeries, targets: number) => {
    const ups = job === "node" ? upSeries : upDirect;
    const firstOk = ups.map((s) => s.values.find((v) => v.value === 1)?.time ?? Number.POSITIVE_INFINITY);
    const allUpS =
      ups.length < targets ? Number.POSITIVE_INFINITY : Math.max(...firstOk) - warmupStart / 1000;
    const warmupFailed = ups
      .flatMap((s) => s.values)
      .filter((v) => v.time < steadyStartAt / 1000 && v.value !== 1).length;
    const firstMs = durationSeries[job]
      .map((s) => (s.values[0]?.value ?? Number.NaN) * 1000)
      .sort((a, b) => a - b);
    return { allUpS, firstMs, warmupFailed };
  };
  const firstViaProxy = firstScrapes("node", N);
  const firstDirect = firstScrapes("direct", exporters.length * directCopies);
  const viaProxy = durations("node", steadyStartAt / 1000);
  const viaProxyAll = durations("node");
  const direct = durations("direct", steadyStartAt / 1000);
  /** Steady scrapes with their start (ms), for --gc-stats' attribution. */
  const timed = (job: keyof typeof durationSeries) =>
    durationSeries[job].flatMap((s) =>
      s.values
        .filter((v) => v.time >= steadyStartAt / 1000)
        .map((v) => ({ at: v.time * 1000, ms: v.value * 1000 })),
    );
  /** Share of steady requests slower than 5 / 10 / 25 ms: by Prometheus' clock, and by the proxy's histogram. */
  const tailShares = () => {
    const bucket = (m: MetricSample[], le: string) =>
      sum(select(m, "sshscrape_request_duration_seconds_bucket", { le }));
    const count = bucket(histogramEnd, "+Inf") - bucket(histogramStart, "+Inf");
    return ["0.005", "0.01", "0.025"].map((le) => {
      const proxyPct = (1 - (bucket(histogramEnd, le) - bucket(histogramStart, le)) / count) * 100;
      const promPct = (viaProxy.filter((ms) => ms > Number(le) * 1000).length / viaProxy.length) * 100;
      return `> ${Number(le) * 1000} ms: ${round(promPct, 2)} % / ${round(proxyPct, 2)} %`;
    });
  };
  const stalls = flags["gc-stats"]
    ? attributeStalls(
        timed("node"),
        timed("direct"),
        JSON.parse(readFileSync(gcTimeline, "utf8")) as Span[],
        flags["loop-gaps"] ? (JSON.parse(readFileSync(lagTimeline, "utf8")) as Span[]) : [],
      )
    : undefined;

  const metrics: MetricSample[] = await proxyMetrics(proxy.url);
  const handshakes = select(metrics, "sshscrape_ssh_handshakes_total", { result: "success" });
  const perHost = new Map<string, number>();
  for (const h of handshakes)
    perHost.set(h.labels.host ?? "", (perHost.get(h.labels.host ?? "") ?? 0) + h.value);
  const hostsOff = Array.from({ length: N }, (_, i) => `${first.user}@${alias(i)}:${sshPort}`).filter(
    (h) => perHost.get(h) !== 1,
  ).length;
  const byCode: Record<string, number> = {};
  for (const r of select(metrics, "sshscrape_requests_total"))
    byCode[r.labels.code ?? "?"] = (byCode[r.labels.code ?? "?"] ?? 0) + r.value;

  const steadyS = (endAt - steadyStartAt) / 1000;
  const cpuPct = (a: ProcSample, b: ProcSample, ms: number) =>
    ((b.ticks - a.ticks) / CLK_TCK / (ms / 1000)) * 100;
  const round = (x: number, d = 1) => Math.round(x * 10 ** d) / 10 ** d;
  const result: Omit<Result, "goals"> = {
    machine: `${cpus().length} × ${cpus()[0]?.model.trim()}, ${Math.round(totalmem() / 2 ** 30)} GiB RAM, Node ${process.version}`,
    targets: N,
    sshdProcesses: sshds.length,
    intervalS,
    measuredS: round((endAt - steadyStartAt) / 1000),
    bodyBytes: body.length,
    bodyGzipBytes: gz.length,
    samplesPerScrape,
    warmupS: round(warmupS),
    startMode,
    readyS: readyS === undefined ? undefined : round(readyS),
    readyText,
    scrapes,
    failedScrapes: failed,
    warmupScrapes,
    warmupFailedScrapes: warmupFailed,
    firstUpViaProxyS: round(firstViaProxy.allUpS),
    firstUpDirectS: round(firstDirect.allUpS),
    directTargets: exporters.length * directCopies,
    directWarmupFailedScrapes: firstDirect.warmupFailed,
    firstScrapeViaProxyMs: [0.5, 0.99].map((q) => round(quantile(firstViaProxy.firstMs, q))),
    firstScrapeDirectMs: [0.5, 0.99].map((q) => round(quantile(firstDirect.firstMs, q))),
    scrapeDurationP50Ms: round(quantile(viaProxy, 0.5)),
    scrapeDurationP99Ms: round(quantile(viaProxy, 0.99)),
    scrapeDurationMaxMs: round(viaProxy.at(-1) ?? Number.NaN),
    wholeRunP50Ms: round(quantile(viaProxyAll, 0.5)),
    wholeRunP99Ms: round(quantile(viaProxyAll, 0.99)),
    directP50Ms: round(quantile(direct, 0.5)),
    directP99Ms: round(quantile(direct, 0.99)),
    proxyRssMaxMB: round(rssMax / 2 ** 20),
    proxyRssMaxAnonMB: round((atMax?.sample.rssAnonBytes ?? 0) / 2 ** 20),
    proxyRssMaxFileMB: round((atMax?.sample.rssFileBytes ?? 0) / 2 ** 20),
    proxyRssMaxAtS: round(((atMax?.at ?? endAt) - steadyStartAt) / 1000),
    proxyHeapEndMB: `${round(sum(select(metrics, "nodejs_heap_size_used_bytes")) / 2 ** 20)} / ${round(sum(select(metrics, "nodejs_heap_size_total_bytes")) / 2 ** 20)}`,
    proxyExternalEndMB: round(sum(select(metrics, "nodejs_external_memory_bytes")) / 2 ** 20),
    proxyCli: flags["proxy-cli"] ? resolve(flags["proxy-cli"]) : "this tree's bin/run.js",
    proxyEnv: flags["proxy-env"],
    selfScrape: flags["self-scrape"],
    proxyRssEndMB: round(end.rssBytes / 2 ** 20),
    proxyCpuSteadyPct: round(cpuPct(steadyStart, end, endAt - steadyStartAt)),
    prometheusCpuPct: round(((others1.prometheus - others0.prometheus) / CLK_TCK / steadyS) * 100),
    benchCpuPct: round(
      ((benchCpu2.user + benchCpu2.system - benchCpu1.user - benchCpu1.system) / 1e6 / steadyS) * 100,
    ),
    sshdCpuPct: round(((others1.sshd - others0.sshd) / CLK_TCK / steadyS) * 100),
    machineBusyPct: round(
      ((others1.machine.busy - others0.machine.busy) / (others1.machine.total - others0.machine.total)) * 100,
    ),
    loadAverage: `${load0} → ${load1}`,
    proxyEventLoopLagP99Ms: round(sum(select(metrics, "nodejs_eventloop_lag_p99_seconds")) * 1000),
    proxyRequestMeanMs: round(
      (sum(select(metrics, "sshscrape_request_duration_seconds_sum")) /
        sum(select(metrics, "sshscrape_request_duration_seconds_count"))) *
        1000,
    ),
    warmupProxyCpuPct: round(cpuPct(ZERO, steadyStart, steadyStartAt - proxyStartedAt)),
    readyCpuPerHandshakeMs:
      readyTicks === undefined ? undefined : round((readyTicks / CLK_TCK / N) * 1000, 2),
    warmupCpuPerHandshakeMs: round((steadyStart.ticks / CLK_TCK / N) * 1000, 2),
    warmupPrometheusCpuPct: round(
      (others0.prometheus / CLK_TCK / ((steadyStartAt - promStartedAt) / 1000)) * 100,
    ),
    warmupBenchCpuPct: round(
      ((benchCpu1.user + benchCpu1.system - benchCpu0.user - benchCpu0.system) /
        1e6 /
        ((steadyStartAt - promStartedAt) / 1000)) *
        100,
    ),
    warmupSshdCpuPct: round(
      ((others0.sshd - warm0.sshd) / CLK_TCK / ((steadyStartAt - warm0.at) / 1000)) * 100,
    ),
    warmupMachineBusyPct: round(
      ((others0.machine.busy - warm0.machine.busy) / (others0.machine.total - warm0.machine.total)) * 100,
    ),
    proxyCpuWholeRunPct: round(cpuPct(ZERO, end, endAt - proxyStartedAt)),
    sshConnections: sum(select(metrics, "sshscrape_ssh_connections")),
    sshChannels: sum(select(metrics, "sshscrape_ssh_channels")),
    exporterStyle,
    handshakesTotal: sum(handshakes),
    handshakeFailures: sum(select(metrics, "sshscrape_ssh_handshakes_total", { result: "failure" })),
    hostsWithOtherThanOneHandshake: hostsOff,
    proxyRequestsByCode: byCode,
    proxyWarnings: Object.fromEntries([...warnings].sort((a, b) => b[1] - a[1]).slice(0, 10)),
    proxyLog,
    gc: flags["gc-stats"]
      ? {
          // The isolate's clock starts a few tens of ms after the spawn: close enough for a 90 s window.
          ...summarize(gcLines, steadyStartAt - proxyStartedAt, endAt - proxyStartedAt),
          stalls,
          tailShares: tailShares(),
          newSpaceEndMB: round(
            sum(select(metrics, "nodejs_heap_space_size_total_bytes", { space: "new" })) / 2 ** 20,
          ),
          semiSpaceEndMB: round(
            (sum(select(metrics, "nodejs_heap_space_size_used_bytes", { space: "new" })) +
              sum(select(metrics, "nodejs_heap_space_size_available_bytes", { space: "new" }))) /
              2 ** 20,
          ),
        }
      : undefined,
  };
  return {
    ...result,
    goals: {
      "0 failed scrapes, warm-up included": result.failedScrapes + result.warmupFailedScrapes === 0,
      // Issue 14's goals (issue 5's were 200 MB and 25 %).
      "proxy RSS ≤ 150 MB": result.proxyRssMaxMB <= 150,
      "proxy CPU ≤ 15 % of one core (steady state)": result.proxyCpuSteadyPct <= 15,
      "steady p99 scrape ≤ 2× direct": result.scrapeDurationP99Ms <= 2 * result.directP99Ms,
      "exactly one handshake per host": hostsOff === 0 && result.handshakesTotal === N,
    },
  };
}

function startModeText(r: Result): string {
  if (r.startMode === "cold") return "cold: proxy.preconnect off, Prometheus started with the proxy";
  if (r.startMode === "together") return "together: preconnect on, Prometheus started with the proxy";
  return `after-ready: Prometheus started ${r.readyS} s after the proxy, when /readyz said "${r.readyText}"`;
}

function table(r: Result): string {
  const rows: Array<[string, string]> = [
    [
      "targets (distinct host:port, one SSH connection each)",
      `${r.targets} (${r.sshdProcesses} sshd processes)`,
    ],
    ["start (--start)", startModeText(r)],
    [
      "scrape interval / measured steady state",
      `${r.intervalS} s / ${r.measuredS} s (+ ${r.warmupS} s warm-up)`,
    ],
    [
      "exporters (--exporter)",
      r.exporterStyle === "go"
        ? "go: as node_exporter (no Keep-Alive header, idle connections kept, 2 KiB chunks)"
        : "node: node:http's defaults (Keep-Alive: timeout=5, Content-Length)",
    ],
    [
      "exporter body",
      `${(r.bodyBytes / 1024).toFixed(1)} KiB, ${r.samplesPerScrape} samples (${(r.bodyGzipBytes / 1024).toFixed(1)} KiB gzip)`,
    ],
    ["scrapes through the proxy, steady state", `${r.scrapes}`],
    ["failed scrapes, steady state", `${r.failedScrapes}`],
    [
      "warm-up: scrapes / failed (before every target had succeeded once)",
      `${r.warmupScrapes} / ${r.warmupFailedScrapes}`,
    ],
    ["warm-up: failed scrapes of the direct job (no proxy, no SSH)", `${r.directWarmupFailedScrapes}`],
    [
      `every target's first successful scrape, s after Prometheus started: via the proxy / direct (${r.directTargets} targets, same exporters)`,
      `${r.firstUpViaProxyS} / ${r.firstUpDirectS} s`,
    ],
    [
      "each target's first scrape, p50 / p99: via the proxy / direct",
      `${r.firstScrapeViaProxyMs.join(" / ")} ms / ${r.firstScrapeDirectMs.join(" / ")} ms`,
    ],
    [
      "scrape_duration_seconds, steady state: p50 / p99 / max",
      `${r.scrapeDurationP50Ms} / ${r.scrapeDurationP99Ms} / ${r.scrapeDurationMaxMs} ms`,
    ],
    [
      "scrape_duration_seconds, whole run incl. first scrapes: p50 / p99",
      `${r.wholeRunP50Ms} / ${r.wholeRunP99Ms} ms`,
    ],
    [
      "same exporters scraped directly, steady state: p50 / p99 (baseline)",
      `${r.directP50Ms} / ${r.directP99Ms} ms`,
    ],
    ["proxy (--proxy-cli / --proxy-env)", `${r.proxyCli} / ${r.proxyEnv || "–"}`],
    ["Prometheus scrapes the proxy's /metrics (--self-scrape)", r.selfScrape ? "yes, every interval" : "no"],
    ["proxy RSS max / at end", `${r.proxyRssMaxMB} / ${r.proxyRssEndMB} MB`],
    [
      "at the RSS max: anonymous / file-backed RSS, s after the steady state began",
      `${r.proxyRssMaxAnonMB} / ${r.proxyRssMaxFileMB} MB, ${r.proxyRssMaxAtS} s`,
    ],
    [
      "proxy V8 heap used / committed, external, at the end",
      `${r.proxyHeapEndMB} MB, ${r.proxyExternalEndMB} MB`,
    ],
    [
      "proxy CPU, steady state / whole run incl. handshakes",
      `${r.proxyCpuSteadyPct} % / ${r.proxyCpuWholeRunPct} % of one core`,
    ],
    [
      "proxy CPU ÷ hosts: start until /readyz 200 (start-up + handshakes) / until steady (+ first scrapes)",
      `${r.readyCpuPerHandshakeMs ?? "–"} / ${r.warmupCpuPerHandshakeMs} ms`,
    ],
    [
      "proxy event-loop lag p99 (prom-client) / mean request time (own histogram)",
      `${r.proxyEventLoopLagP99Ms} / ${r.proxyRequestMeanMs} ms`,
    ],
    [
      "steady state, same window: Prometheus / all sshd processes / exporters (this script) / whole machine busy",
      `${r.prometheusCpuPct} % / ${r.sshdCpuPct} % / ${r.benchCpuPct} % of one core / ${r.machineBusyPct} % of ${cpus().length} cores`,
    ],
    ["load average (1 min) at start → end of the window", r.loadAverage],
    [
      "warm-up: proxy / all sshd processes / Prometheus / exporters (this script) / whole machine busy",
      `${r.warmupProxyCpuPct} % / ${r.warmupSshdCpuPct} % / ${r.warmupPrometheusCpuPct} % / ${r.warmupBenchCpuPct} % of one core / ${r.warmupMachineBusyPct} % of ${cpus().length} cores`,
    ],
    ["SSH connections / channels open at end", `${r.sshConnections} / ${r.sshChannels}`],
    ["SSH handshakes total (failures)", `${r.handshakesTotal} (${r.handshakeFailures})`],
    ["hosts with ≠ 1 handshake", `${r.hostsWithOtherThanOneHandshake}`],
    [
      "proxy responses by status",
      Object.entries(r.proxyRequestsByCode)
        .map(([c, n]) => `${c}: ${n}`)
        .join(", "),
    ],
  ];
  for (const [w, n] of Object.entries(r.proxyWarnings)) rows.push([`proxy warning (whole run) ×${n}`, w]);
  if (r.gc !== undefined) {
    rows.push(...summaryRows(r.gc));
    rows.push([
      "GC: young generation at the end: semi-space capacity / new space committed (both semi-spaces when both are)",
      `${r.gc.semiSpaceEndMB} / ${r.gc.newSpaceEndMB} MB`,
    ]);
    const st = r.gc.stalls;
    if (st !== undefined) {
      rows.push([
        `slow scrapes (≥ p99, ${st.thresholdMs} ms): overlapping a scavenge / mark-compact / proxy event-loop gap > 4 ms / slow direct scrape / none`,
        `${st.slow}: ${st.withScavenge} / ${st.withMarkCompact} / ${st.withLoopGap} / ${st.withSlowDirect} / ${st.unexplained}`,
      ]);
      rows.push([
        "all steady scrapes overlapping a proxy GC; proxy event-loop gaps > 4 ms (count, sum, max; proxy CPU in them)",
        `${st.allOverlappingGcPct} %; ${st.loopGaps}, ${st.loopGapMs} ms, ${st.loopGapMaxMs} ms; ${st.loopGapCpuMs} ms`,
      ]);
      for (const line of st.slowest) rows.push(["slowest scrape", line]);
      rows.push([
        "steady scrapes slower than: by Prometheus' scrape_duration / by the proxy's own histogram (request read → response end)",
        r.gc.tailShares.join(", "),
      ]);
    }
  }
  rows.push(["proxy log", r.proxyLog]);
  const goals = Object.entries(r.goals).map(([g, ok]) => `| goal: ${g} | ${ok ? "met" : "MISSED"} |`);
  return [
    `machine: ${r.machine}`,
    "",
    "| measure | value |",
    "| --- | --- |",
    ...rows.map(([k, v]) => `| ${k} | ${v.replaceAll("|", "\\|")} |`),
    ...goals,
  ].join("\n");
}

let exitCode = 0;
try {
  const result = await main();
  process.stdout.write(flags.json ? `${JSON.stringify(result, null, 2)}\n` : `${table(result)}\n`);
  if (Object.values(result.goals).some((ok) => !ok)) exitCode = 1;
} catch (err) {
  log(`failed: ${(err as Error).stack ?? err}`);
  exitCode = 2;
} finally {
  await runCleanups(cleanups, log);
}
process.exit(exitCode);
