/**
 * `npx tsx scripts/c1-probe.ts`: where a proxy's CPU per scrape goes at each concurrency, with perf. Starts the
 * bench's sshd and exporter, one proxy per `--proxy` spec (scripts/bench-ab.ts's syntax) and, with `--tunnel`,
 * the bench's OpenSSH tunnel; then, per concurrency and path in turn, drives `--count` requests while
 * `perf stat` (software counters: task-clock, context switches, page faults) or, with `--record DIR`,
 * `perf record -g` watches that one process (the proxy, or the tunnel's ssh client). Prints per request: CPU
 * (user and system from /proc), perf's counters, and the path's p50; with `--record`, one perf.data per path
 * and concurrency in DIR, for `perf report -i DIR/NAME-cC.data --no-children --sort sym` (add
 * `--perf-basic-prof` to a proxy's node args to name its JS frames).
 *
 *   npx tsx scripts/c1-probe.ts -c 1,16 --count 4000 --tunnel --proxy "c1 bin/run.js"
 *   npx tsx scripts/c1-probe.ts -c 1,16 --record /tmp/c1 --proxy "c1 --perf-basic-prof bin/run.js"
 *
 * Diagnostic only; it needs perf and permission to attach to the proxy (root, or perf_event_paranoid ≤ 1).
 */
import { type ChildProcess, spawn } from "node:child_process";
import { mkdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { parseArgs } from "node:util";
import type { Started } from "../test/helpers/processes.js";
import type { RoundResult } from "./bench-load.js";
import { LoadGenerator } from "./bench-load-client.js";
import { BEST_TUNNEL, startTunnel } from "./bench-tunnel.js";
import { type ProxySpec, parseProxySpec } from "./proxy-spec.js";
import { startLab, startSpecProxy } from "./spec-lab.js";

const { values: flags } = parseArgs({
  options: {
    concurrency: { type: "string", short: "c", default: "1,16" },
    count: { type: "string", default: "3000" },
    body: { type: "string", default: "100000" },
    proxy: { type: "string", multiple: true, default: [] },
    tunnel: { type: "boolean", default: false },
    record: { type: "string" },
    repeat: { type: "string", default: "1" },
    "no-perf": { type: "boolean", default: false },
  },
});
if (flags.record) mkdirSync(flags.record, { recursive: true });

interface Path extends Omit<ProxySpec, "bin"> {
  bin?: string;
  proc?: Started;
  port?: number;
}
const paths: Path[] = flags.proxy.map(parseProxySpec);

const lab = await startLab(Number(flags.body));
const { sshd, exporter, knownHosts } = lab;
for (const p of paths) Object.assign(p, await startSpecProxy(lab, p as ProxySpec, "probe"));
if (flags.tunnel) {
  const t = await startTunnel(sshd, knownHosts, exporter, BEST_TUNNEL);
  paths.push({ name: "tunnel", nodeArgs: [], env: {}, proxySettings: {}, proc: t.proc, port: t.port });
}

const CLK_TCK = 100;
function cpu(pid: number) {
  const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
  const f = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  return { user: (Number(f[11]) * 1000) / CLK_TCK, sys: (Number(f[12]) * 1000) / CLK_TCK };
}

const generator = new LoadGenerator();
const round = (p: Path, concurrency: number, count: number): Promise<RoundResult> =>
  generator.run({
    agentKey: `${p.name}:${concurrency}`,
    host: "127.0.0.1",
    port: p.port as number,
    path: p.bin ? exporter.url : "/metrics",
    hostHeader: `127.0.0.1:${exporter.port}`,
    concurrency,
    count,
    expectBytes: exporter.body.length,
  });

function perf(pid: number, out: string | undefined): { child: ChildProcess; text: () => string } {
  if (flags["no-perf"]) {
    const child = spawn("sleep", ["600"], { stdio: "ignore" });
    return { child, text: () => "" };
  }
  const args = out
    ? ["record", "-g", "-F", "2999", "-o", out, "-p", String(pid)]
    : ["stat", "-x", ",", "-e", "task-clock,context-switches,cpu-migrations,page-faults", "-p", String(pid)];
  const child = spawn("perf", args, { stdio: ["ignore", "pipe", "pipe"] });
  let text = "";
  child.stderr?.on("data", (d: Buffer) => {
    text += d.toString();
  });
  return { child, text: () => text };
}

const pidOf = (p: Path): number => p.proc?.child.pid as number;
const count = Number(flags.count);
for (let rep = 0; rep < Number(flags.repeat); rep++) {
  for (const c of flags.concurrency.split(",").map(Number)) {
    for (const p of paths) await round(p, c, 500); // warm-up
    for (const p of paths) {
      const pid = pidOf(p);
      const out = flags.record ? join(flags.record, `${p.name}-c${c}.data`) : undefined;
      const watcher = perf(pid, out);
      await new Promise((r) => setTimeout(r, 300)); // perf attaches
      const before = cpu(pid);
      const r = await round(p, c, count);
      const after = cpu(pid);
      watcher.child.kill("SIGINT");
      await new Promise((r) => watcher.child.once("exit", r));
      const n = r.ok;
      const l = r.latencies.sort((x, y) => x - y);
      const pct = (q: number) => (l[Math.max(0, Math.ceil(q * l.length) - 1)] ?? Number.NaN).toFixed(2);
      const counters = out
        ? ""
        : watcher
            .text()
            .split("\n")
            .filter((line) => /^[\d.]+,/.test(line))
            .map((line) => {
              const [v, , name] = line.split(",");
              const per = Number(v) / n;
              return `${name} ${per < 10 ? per.toFixed(3) : per.toFixed(1)}`;
            })
            .join("  ");
      console.log(
        `c=${c} ${p.name.padEnd(8)} n=${n} err=${r.errors} p50 ${pct(0.5)} p99 ${pct(0.99)} ms  CPU/req user ${((after.user - before.user) / n).toFixed(3)} sys ${((after.sys - before.sys) / n).toFixed(3)} ms  ${counters}`,
      );
    }
  }
}
generator.stop();
for (const p of paths) await p.proc?.stop();
await exporter.close();
await sshd.stop();
process.exit(0);
