/**
 * `npm run bench:scale -- --shards S [--targets N] [--duration D] [--interval I] [--json]`: the scale
 * benchmark split across S shards. One target list of N loopback hosts (served by ⌈N / 16⌉ sshd processes, as
 * in bench-scale.ts), S `sshscrape proxy --config` processes (the list with `shards: { count: S, index: i }`),
 * and S real Prometheus servers, each with the job `sshscrape generate --format prometheus` writes for its
 * shard (every target listed, `hashmod` relabeling keeps its own). Reports per shard how many targets it got,
 * its handshakes, failed scrapes, RSS and CPU, and checks the split: the union of the shards' `up` series is
 * every target and no target is scraped by two shards. Results: docs/scaling.md.
 */
import { execFileSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { cpus, tmpdir } from "node:os";
import { join } from "node:path";
import { gzipSync } from "node:zlib";
import { parse, stringify } from "yaml";
import { loadConfig, parseDuration } from "../src/config/index.js";
import { generateFiles } from "../src/generate/index.js";
import { proxyMetrics, select, sum } from "../test/e2e/proxy-client.js";
import { type RunningCli, startProxyCli } from "../test/e2e/proxy-process.js";
import { metricsBody } from "../test/helpers/exporter.js";
import { freePort, waitFor } from "../test/helpers/processes.js";
import { type Prometheus, startPrometheus } from "../test/helpers/prometheus.js";
import type { Sshd } from "../test/helpers/sshd.js";
import {
  type Cleanups,
  runCleanups,
  SSHD_MAX_LISTEN,
  startSshds,
  startStaticExporter,
} from "./bench-scale-lab.js";

export interface ShardFlags {
  shards?: string;
  targets: string;
  duration: string;
  interval: string;
  json: boolean;
  exporter?: string;
}

const EXPORTER_SERVERS = 10;
/** 127.2.x.y: clear of the tests' 127.0.x.y and bench-scale.ts' 127.1.x.y. */
const alias = (i: number) => `127.2.${Math.floor(i / 250)}.${(i % 250) + 1}`;
const CLK_TCK = Number(execFileSync("getconf", ["CLK_TCK"]).toString().trim());
const log = (msg: string) =>
  process.stderr.write(`[bench:scale --shards ${new Date().toISOString().slice(11, 19)}] ${msg}\n`);

/** utime + stime in clock ticks (proc(5), /proc/PID/stat fields 14, 15) and VmRSS in bytes. */
function proc(pid: number): { ticks: number; rss: number } {
  const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
  const f = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  const rss = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, "utf8"));
  return { ticks: Number(f[11]) + Number(f[12]), rss: Number(rss?.[1] ?? 0) * 1024 };
}

interface ShardResult {
  index: number;
  targets: number;
  handshakes: number;
  handshakeFailures: number;
  sshConnections: number;
  scrapes: number;
  failedScrapes: number;
  /** Before every target had succeeded once (first handshakes, Prometheus' first round). */
  warmupScrapes: number;
  warmupFailedScrapes: number;
  proxyRssMaxMB: number;
  proxyCpuSteadyPct: number;
  refused403: number;
}

export async function runShards(flags: ShardFlags): Promise<number> {
  const S = Number(flags.shards);
  const N = Number(flags.targets);
  if (!Number.isInteger(S) || S < 1 || S > 16)
    throw new Error(`--shards: expected 1–16, got ${flags.shards}`);
  if (!Number.isInteger(N) || N < S) throw new Error(`--targets: expected ≥ --shards, got ${flags.targets}`);
  const durationMs = parseDuration(flags.duration);
  const intervalS = parseDuration(flags.interval) / 1000;
  const cleanups: Cleanups = [];
  const dir = mkdtempSync(join(tmpdir(), "sshscrape-bench-shards-"));
  cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
  try {
    const body = metricsBody(56 * 1024);
    const gz = gzipSync(body);
    const exporters = await Promise.all(
      Array.from({ length: EXPORTER_SERVERS }, () =>
        startStaticExporter(body, gz, flags.exporter === "node" ? "node" : "go"),
      ),
    );
    for (const e of exporters) cleanups.push(() => new Promise((r) => e.server.close(r)));
    const ports = exporters.map((e) => e.port);

    const sshPort = await freePort();
    log(`starting ${Math.ceil(N / SSHD_MAX_LISTEN)} sshd processes for ${N} hosts`);
    const sshds = await startSshds(N, sshPort, cleanups, alias);
    const first = sshds[0] as Sshd;
    const knownHostsFile = join(dir, "known_hosts");
    writeFileSync(knownHostsFile, `${sshds.map((s) => s.knownHostsLine()).join("\n")}\n`);

    const shards: Array<{ index: number; proxy: RunningCli; prometheus?: Prometheus }> = [];
    for (let index = 0; index < S; index++) {
      const listFile = join(dir, `targets-${index}.yaml`);
      writeFileSync(
        listFile,
        stringify({
          shards: { count: S, index },
          proxy: { listen: `127.0.0.1:${await freePort()}`, knownHostsFile },
          ssh: { user: first.user, port: sshPort, key: { path: first.clientKeyPath } },
          defaults: { scrapeInterval: `${intervalS}s`, scrapeTimeout: `${Math.min(10, intervalS)}s` },
          targets: Array.from({ length: N }, (_, i) => ({
            host: alias(i),
            exporters: [{ name: "node", port: ports[i % EXPORTER_SERVERS] }],
          })),
        }),
      );
      const proxy = await startProxyCli(listFile);
      cleanups.push(() => proxy.stop());
      shards.push({ index, proxy });
    }
    const started = Date.now();
    for (const s of shards)
      await waitFor(
        `proxy ${s.index} /readyz`,
        async () => (await fetch(`${s.proxy.url}/readyz`)).ok,
        180_000,
      );
    log(`all ${S} proxies ready after ${((Date.now() - started) / 1000).toFixed(1)} s; starting Prometheus`);
    for (const s of shards) {
      // The job `sshscrape generate --format prometheus` writes for this shard.
      const list = loadConfig(join(dir, `targets-${s.index}.yaml`));
      const [yml] = generateFiles(list, {
        source: "bench",
        version: "bench",
        base: dir,
        format: "prometheus",
        split: false,
        remote: false,
        modules: "flake",
      });
      s.prometheus = await startPrometheus({
        config: parse(yml?.content ?? "") as Record<string, unknown>,
        readyTimeoutMs: 60_000,
      });
      cleanups.push(() => s.prometheus?.stop());
    }
    const proms = shards.map((s) => s.prometheus as Prometheus);
    const upCount = async () =>
      (await Promise.all(proms.map((p) => p.query('count(up{job="node"} == 1)')))).reduce(
        (n, r) => n + (r[0]?.value ?? 0),
        0,
      );
    const warmStart = Date.now();
    await waitFor(
      `all ${N} targets up across ${S} shards`,
      async () => (await upCount()) >= N,
      10 * intervalS * 1000 + 120_000,
    );
    const warmupS = (Date.now() - warmStart) / 1000;
    log(`every target up after ${warmupS.toFixed(1)} s of warm-up; measuring for ${durationMs / 1000} s`);
    const pids = shards.map((s) => s.proxy.pid() as number);
    const rssMax = pids.map(() => 0);
    const rssTimer = setInterval(() => {
      for (const [i, p] of pids.entries()) rssMax[i] = Math.max(rssMax[i] ?? 0, proc(p).rss);
    }, 1000);
    cleanups.push(() => clearInterval(rssTimer));
    const t0 = pids.map((p) => proc(p).ticks);
    const load0 = readFileSync("/proc/loadavg", "utf8").split(" ")[0];
    const steadyAt = Date.now();
    await new Promise((r) => setTimeout(r, durationMs));
    const endAt = Date.now();
    const t1 = pids.map((p) => proc(p).ticks);
    const load1 = readFileSync("/proc/loadavg", "utf8").split(" ")[0];

    const windowS = Math.ceil((endAt - steadyAt) / 1000);
    // The whole run, so the warm-up's samples are counted too (split at steadyAt below).
    const wholeS = Math.ceil((endAt - warmStart) / 1000) + intervalS;
    const byInstance = new Map<string, number>();
    const results: ShardResult[] = [];
    for (const [i, s] of shards.entries()) {
      const series = (await proms[i]?.queryMatrix(`up{job="node"}[${wholeS}s]`, endAt / 1000)) ?? [];
      let scrapes = 0;
      let failed = 0;
      let warmupScrapes = 0;
      let warmupFailed = 0;
      for (const x of series) {
        const inst = x.metric.instance as string;
        byInstance.set(inst, (byInstance.get(inst) ?? 0) + 1);
        for (const v of x.values) {
          const steady = v.time >= steadyAt / 1000;
          if (steady) scrapes++;
          else warmupScrapes++;
          if (v.value !== 1) {
            if (steady) failed++;
            else warmupFailed++;
          }
        }
      }
      const m = await proxyMetrics(s.proxy.url);
      results.push({
        index: s.index,
        targets: series.length,
        handshakes: sum(select(m, "sshscrape_ssh_handshakes_total", { result: "success" })),
        handshakeFailures: sum(select(m, "sshscrape_ssh_handshakes_total", { result: "failure" })),
        sshConnections: sum(select(m, "sshscrape_ssh_connections")),
        scrapes,
        failedScrapes: failed,
        warmupScrapes,
        warmupFailedScrapes: warmupFailed,
        proxyRssMaxMB: Math.round(((rssMax[i] ?? 0) / 2 ** 20) * 10) / 10,
        proxyCpuSteadyPct:
          Math.round((((t1[i] ?? 0) - (t0[i] ?? 0)) / CLK_TCK / ((endAt - steadyAt) / 1000)) * 100 * 10) / 10,
        refused403: sum(select(m, "sshscrape_requests_total", { code: "403" })),
      });
    }
    const union = byInstance.size;
    const twice = [...byInstance.values()].filter((n) => n > 1).length;
    const goals = {
      "union of the shards' up series = every target": union === N,
      "no target scraped by two shards": twice === 0,
      "0 failed scrapes in the measured window": results.every((r) => r.failedScrapes === 0),
      "each proxy connected only to its own shard (handshakes = its targets)": results.every(
        (r) => r.handshakes === r.targets && r.refused403 === 0,
      ),
    };
    const out = {
      machine: `${cpus().length} × ${cpus()[0]?.model.trim()}, Node ${process.version}`,
      shards: S,
      targets: N,
      intervalS,
      warmupS: Math.round(warmupS * 10) / 10,
      measuredS: windowS,
      loadAverage: `${load0} → ${load1}`,
      union,
      scrapedByTwoShards: twice,
      perShard: results,
      goals,
    };
    if (flags.json) process.stdout.write(`${JSON.stringify(out, null, 2)}\n`);
    else {
      const rows = results.map(
        (r) =>
          `| ${r.index} | ${r.targets} | ${r.handshakes} (${r.handshakeFailures}) | ${r.sshConnections} | ${r.failedScrapes} of ${r.scrapes} | ${r.warmupFailedScrapes} of ${r.warmupScrapes} | ${r.proxyRssMaxMB} MB | ${r.proxyCpuSteadyPct} % |`,
      );
      process.stdout.write(
        [
          `machine: ${out.machine}; load average ${out.loadAverage}`,
          `${S} shards × ${N} targets, interval ${intervalS} s, ${windowS} s measured after ${out.warmupS} s warm-up; union ${union} of ${N}, scraped by two shards: ${twice}`,
          "",
          "| shard | targets | handshakes (failed) | SSH connections | failed scrapes, measured | failed scrapes, warm-up | proxy RSS max | proxy CPU, measured (one core) |",
          "| --- | --- | --- | --- | --- | --- | --- | --- |",
          ...rows,
          ...Object.entries(goals).map(([g, ok]) => `goal: ${g}: ${ok ? "met" : "MISSED"}`),
          "",
        ].join("\n"),
      );
    }
    return Object.values(goals).every(Boolean) ? 0 : 1;
  } finally {
    await runCleanups(cleanups, log);
  }
}
