/**
 * `npx tsx scripts/bench-ab.ts`: a same-run A/B of proxy builds (or of node flags on one build), quicker and
 * with more detail than `npm run bench -- --proxy-b`. One sshd and one exporter (as in scripts/bench.ts); each
 * `--proxy "NAME [NODE-ARGS…] [VAR=VALUE…] [proxy.KEY=JSON…] BIN"` is started on them and the builds take turns in short rounds at each
 * concurrency, driven by the bench's load generator (scripts/bench-load.ts). Per build it prints req/s, p50,
 * p99, CPU per request (user and system, from /proc/PID/stat), read and write syscalls per request
 * (/proc/PID/io), context switches and minor page faults per request and RSS; ratios are against the last build given.
 *
 *   npx tsx scripts/bench-ab.ts --proxy "new bin/run.js" --proxy "main ../main/bin/run.js"
 *   npx tsx scripts/bench-ab.ts -c 16,64 --rounds 14 --proxy "yg4 --max-semi-space-size=4 bin/run.js" --proxy "now bin/run.js"
 *   npx tsx scripts/bench-ab.ts -c 1 --tunnel --netns --dump /tmp/lat --proxy "new bin/run.js" --proxy "main ../main/bin/run.js"
 *
 * `--tunnel` adds the bench's OpenSSH tunnel (scripts/bench-tunnel.ts) as one more path in the same rounds, and
 * prints every path's p50 and p99 against it. `--netns` runs the whole A/B in a new network namespace whose
 * loopback has MTU 1500, as `npm run bench` does for its second table (needs root or user namespaces).
 * `--dump DIR` writes every request's latency per path and concurrency to DIR/NAME-cC.json, in the order
 * they were measured, for looking at the tail. `--warmup MS` (default 500) is each path's uncounted round before
 * the first concurrency's rounds (later concurrencies keep 500 ms): a fresh proxy needs ~2 000–3 000 scrapes
 * before V8 has optimised its hot path, so with the default the first concurrency measured (c=1) includes that
 * warm-up (docs/benchmarks.md, "c=1 fixed cost (issue 14, round 5)").
 *
 * It always exits 0 after printing: a benchmark, not a test (docs/benchmarks.md, "CPU per scrape, second round").
 */
import { execFileSync } from "node:child_process";
import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { parseArgs } from "node:util";
import type { Started } from "../test/helpers/processes.js";
import type { RoundResult } from "./bench-load.js";
import { LoadGenerator } from "./bench-load-client.js";
import { rerunInNetns } from "./bench-netns.js";
import { BEST_TUNNEL, startTunnel } from "./bench-tunnel.js";
import { type ProxySpec, parseProxySpec } from "./proxy-spec.js";
import { startLab, startSpecProxy } from "./spec-lab.js";

const { values: flags } = parseArgs({
  options: {
    concurrency: { type: "string", short: "c", default: "1,16,64" },
    rounds: { type: "string", default: "10" },
    round: { type: "string", default: "500" },
    body: { type: "string", default: "100000" },
    proxy: { type: "string", multiple: true, default: [] },
    tunnel: { type: "boolean", default: false },
    netns: { type: "boolean", default: false },
    "in-netns": { type: "boolean", default: false },
    dump: { type: "string" },
    warmup: { type: "string", default: "500" },
    tcp: { type: "boolean", default: false },
  },
});
if (flags.proxy.length === 0) {
  console.error(
    'usage: npx tsx scripts/bench-ab.ts [-c 1,16,64] [--rounds N] [--round MS] [--body BYTES] [--tunnel] [--netns] [--dump DIR] [--warmup MS] --proxy "NAME [NODE-ARGS…] BIN" …',
  );
  process.exit(2);
}

// The namespace: this script again, inside `unshare -n` with the namespace's loopback at MTU 1500.
if (flags.netns && !flags["in-netns"]) {
  const res = rerunInNetns(import.meta.filename, process.argv.slice(2), { stdio: "inherit" });
  if (res.status !== 0) console.error(`bench-ab: unshare -n failed (status ${res.status}); it needs root`);
  process.exit(0);
}

interface Build extends Omit<ProxySpec, "bin"> {
  /** A proxy build's bin/run.js; undefined for the tunnel. */
  bin?: string;
  proc?: Started;
  port?: number;
}
const builds: Build[] = flags.proxy.map(parseProxySpec);

const CLK_TCK = 100;
/** CPU, syscalls, context switches and RSS of a process from /proc. */
function sample(pid: number) {
  const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
  const f = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  const io = readFileSync(`/proc/${pid}/io`, "utf8");
  const status = readFileSync(`/proc/${pid}/status`, "utf8");
  const num = (re: RegExp, text: string) => Number(re.exec(text)?.[1] ?? Number.NaN);
  return {
    user: (Number(f[11]) * 1000) / CLK_TCK,
    sys: (Number(f[12]) * 1000) / CLK_TCK,
    reads: num(/^syscr: (\d+)/m, io),
    writes: num(/^syscw: (\d+)/m, io),
    faults: Number(f[7]),
    switches:
      num(/^voluntary_ctxt_switches:\s+(\d+)/m, status) +
      num(/^nonvoluntary_ctxt_switches:\s+(\d+)/m, status),
    rssMb: num(/^VmRSS:\s+(\d+)/m, status) / 1024,
  };
}
type Sample = ReturnType<typeof sample>;

/**
 * `--tcp`: the kernel's TCP counters (/proc/net/netstat TcpExt, /proc/net/snmp Tcp) of this network
 * namespace, read around every round and printed per request for each path. Namespace-wide: they count every
 * socket of the round (load generator, proxy or tunnel, sshd, exporter), so only differences between paths
 * in the same rounds mean anything, and only with `--netns` (the host's namespace has everyone's sockets).
 */
const TCP_COUNTERS = [
  "DelayedACKs",
  "DelayedACKLost",
  "TCPPureAcks",
  "TCPHPAcks",
  "TCPAutoCorking",
  "TCPOrigDataSent",
  "OutSegs",
] as const;
function tcpCounters(): Record<string, number> {
  const out: Record<string, number> = {};
  for (const file of ["/proc/net/netstat", "/proc/net/snmp"]) {
    const lines = readFileSync(file, "utf8").split("\n");
    for (let i = 0; i + 1 < lines.length; i += 2) {
      const names = (lines[i] as string).split(/\s+/);
      const values = (lines[i + 1] as string).split(/\s+/);
      if (names[0] !== "TcpExt:" && names[0] !== "Tcp:") continue;
      for (let j = 1; j < names.length; j++) out[names[j] as string] = Number(values[j]);
    }
  }
  return out;
}

const lab = await startLab(Number(flags.body));
const { sshd, exporter, knownHosts } = lab;
for (const b of builds)
  if (b.bin !== undefined) Object.assign(b, await startSpecProxy(lab, b as ProxySpec, "ab"));

if (flags.tunnel) {
  const t = await startTunnel(sshd, knownHosts, exporter, BEST_TUNNEL);
  builds.push({ name: "tunnel", nodeArgs: [], env: {}, proxySettings: {}, proc: t.proc, port: t.port });
}
const ratioTo = builds.filter((b) => b.bin !== undefined).at(-1) as Build;

const generator = new LoadGenerator();
const round = (b: Build, concurrency: number, durationMs: number): Promise<RoundResult> =>
  generator.run({
    agentKey: `${b.name}:${concurrency}`,
    host: "127.0.0.1",
    port: b.port as number,
    // Absolute form to a proxy, as Prometheus sends it to its proxy_url; origin form through the tunnel.
    path: b.bin === undefined ? "/metrics" : exporter.url,
    hostHeader: `127.0.0.1:${exporter.port}`,
    concurrency,
    durationMs,
    expectBytes: exporter.body.length,
  });
const closeConnections = (): Promise<void> => generator.closeAgents();

const loadavg = () => readFileSync("/proc/loadavg", "utf8").split(" ").slice(0, 3).join(" ");
// Not /sys/class/net/lo/mtu: sysfs shows the host's namespace unless it is mounted again inside this one.
const mtu =
  /\bmtu (\d+)/.exec(execFileSync("ip", ["-o", "link", "show", "lo"], { encoding: "utf8" }))?.[1] ?? "?";
console.log(`${new Date().toISOString()}, loopback MTU ${mtu}, load average ${loadavg()}`);
if (flags.dump) mkdirSync(flags.dump, { recursive: true });
let firstConcurrency = true;
for (const c of flags.concurrency.split(",").map(Number)) {
  // Warm-up: connections, SSH login, JIT.
  for (const b of builds) await round(b, c, firstConcurrency ? Number(flags.warmup) : 500);
  firstConcurrency = false;
  const totals = new Map(
    builds.map((b) => [
      b.name,
      {
        ok: 0,
        errors: 0,
        wallMs: 0,
        latencies: [] as number[],
        /** Per round, in measuring order: the round's start in ms since the first round, and its latencies. */
        rounds: [] as { at: number; latencies: number[] }[],
        d: undefined as Sample | undefined,
        tcp: {} as Record<string, number>,
      },
    ]),
  );
  const t0 = performance.now();
  for (let r = 0; r < Number(flags.rounds); r++) {
    for (let i = 0; i < builds.length; i++) {
      const b = builds[(i + r) % builds.length] as Build;
      const pid = b.proc?.child.pid as number;
      const before = sample(pid);
      const tcpBefore = flags.tcp ? tcpCounters() : undefined;
      const at = performance.now() - t0;
      const res = await round(b, c, Number(flags.round));
      const after = sample(pid);
      const t = totals.get(b.name) as NonNullable<ReturnType<typeof totals.get>>;
      if (tcpBefore !== undefined) {
        const tcpAfter = tcpCounters();
        for (const k of TCP_COUNTERS) t.tcp[k] = (t.tcp[k] ?? 0) + (tcpAfter[k] ?? 0) - (tcpBefore[k] ?? 0);
      }
      t.ok += res.ok;
      t.errors += res.errors;
      t.wallMs += res.wallMs;
      for (const l of res.latencies) t.latencies.push(l);
      if (flags.dump) t.rounds.push({ at, latencies: res.latencies });
      const d = t.d ?? { user: 0, sys: 0, reads: 0, writes: 0, switches: 0, faults: 0, rssMb: 0 };
      for (const k of ["user", "sys", "reads", "writes", "switches", "faults"] as const)
        d[k] += after[k] - before[k];
      d.rssMb = after.rssMb;
      t.d = d;
    }
  }
  await closeConnections();
  const last = totals.get(ratioTo.name);
  const cpu = (t: typeof last) => ((t?.d?.user ?? 0) + (t?.d?.sys ?? 0)) / (t?.ok || 1);
  for (const b of builds) {
    const t = totals.get(b.name) as NonNullable<typeof last>;
    if (flags.dump) writeFileSync(join(flags.dump, `${b.name}-c${c}.json`), JSON.stringify(t.rounds));
    t.latencies.sort((x, y) => x - y);
  }
  const pctOf = (latencies: number[] | undefined, p: number) =>
    latencies?.[Math.max(0, Math.ceil((p / 100) * latencies.length) - 1)] ?? Number.NaN;
  const tunnel = flags.tunnel ? totals.get("tunnel") : undefined;
  for (const b of builds) {
    const t = totals.get(b.name) as NonNullable<typeof last>;
    const d = t.d as Sample;
    const pct = (p: number) => pctOf(t.latencies, p);
    const vsTunnel = tunnel
      ? `  / tunnel: p50 ${(pct(50) / pctOf(tunnel.latencies, 50)).toFixed(2)}× p99 ${(pct(99) / pctOf(tunnel.latencies, 99)).toFixed(2)}×`
      : "";
    const per = (v: number) => (v / (t.ok || 1)).toFixed(2);
    console.log(
      `c=${c} ${b.name.padEnd(10)} ${((t.ok / t.wallMs) * 1000).toFixed(0).padStart(6)} req/s  p50 ${pct(50).toFixed(2)}  p90 ${pct(90).toFixed(2)}  p99 ${pct(99).toFixed(2)} ms  ` +
        `CPU ${cpu(t).toFixed(3)} ms/req (user ${(d.user / (t.ok || 1)).toFixed(3)}, sys ${(d.sys / (t.ok || 1)).toFixed(3)}) ${(cpu(t) / cpu(last)).toFixed(2)}×  ` +
        `reads ${per(d.reads)} writes ${per(d.writes)} switches ${per(d.switches)} faults ${per(d.faults)} per req  RSS ${d.rssMb.toFixed(0)} MB  errors ${t.errors}${vsTunnel}`,
    );
    if (flags.tcp)
      console.log(
        `      tcp per 100 req: ${TCP_COUNTERS.map((k) => `${k} ${(((t.tcp[k] ?? 0) * 100) / (t.ok || 1)).toFixed(1)}`).join("  ")}`,
      );
  }
}
console.log(`load average ${loadavg()} at the end`);
generator.stop();
for (const b of builds) await b.proc?.stop();
await exporter.close();
await sshd.stop();
process.exit(0);
