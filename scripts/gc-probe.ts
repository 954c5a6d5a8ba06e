/**
 * `npx tsx scripts/gc-probe.ts`: where a proxy's garbage goes. Starts the bench's sshd and exporter and one
 * proxy per `--proxy "NAME [NODE-ARGS…] BIN"` (as scripts/bench-ab.ts reads them), with the proxy's stdout and
 * stderr written whole to OUT/NAME.log (V8's `--trace-gc`/`--trace-gc-nvp` lines go to stdout, which
 * bench-ab keeps only the tail of), then drives `--count` requests at each concurrency through each proxy in
 * turn and prints how many each one served, so that GC lines can be counted per 1 000 scrapes.
 *
 *   npx tsx scripts/gc-probe.ts -c 1 --count 3000 --out /tmp/gc --proxy "new --trace-gc-nvp bin/run.js"
 *
 * With `--import ./scripts/gc-marks.mjs` among a proxy's node args (required: the probe signals each proxy),
 * the measured requests are marked in its log, and with HEAP_SAMPLE_OUT=FILE in the spec the proxy writes V8's
 * sampling heap profile of them (scavenged objects included) to FILE.
 */
import { fork } from "node:child_process";
import { closeSync, mkdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { parseArgs } from "node:util";
import type { Started } from "../test/helpers/processes.js";
import type { RoundResult } from "./bench-load.js";
import { LoadGenerator } from "./bench-load-client.js";
import { type ProxySpec, parseProxySpec } from "./proxy-spec.js";
import { startLab, startSpecProxy } from "./spec-lab.js";

const { values: flags } = parseArgs({
  options: {
    concurrency: { type: "string", short: "c", default: "1" },
    count: { type: "string", default: "3000" },
    body: { type: "string", default: "100000" },
    proxy: { type: "string", multiple: true, default: [] },
    out: { type: "string", default: "/tmp/gc-probe" },
    timeline: { type: "boolean", default: false },
  },
});
mkdirSync(flags.out, { recursive: true });

interface Build extends ProxySpec {
  proc?: Started;
  port?: number;
  logFd?: number;
}
const builds: Build[] = flags.proxy.map(parseProxySpec);

const lab = await startLab(Number(flags.body));
const { sshd, exporter } = lab;
for (const b of builds)
  Object.assign(b, await startSpecProxy(lab, b, "gc", join(flags.out, `${b.name}.log`)));

/** CPU (ms) and read/write syscalls of a process so far, from /proc. */
function usage(pid: number) {
  const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
  const f = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  const io = readFileSync(`/proc/${pid}/io`, "utf8");
  return {
    cpuMs: ((Number(f[11]) + Number(f[12])) * 1000) / 100,
    reads: Number(/^syscr: (\d+)/m.exec(io)?.[1]),
    writes: Number(/^syscw: (\d+)/m.exec(io)?.[1]),
    rssMb: Number(/^VmRSS:\s+(\d+)/m.exec(readFileSync(`/proc/${pid}/status`, "utf8"))?.[1]) / 1024,
  };
}

const generator = new LoadGenerator();
const round = (b: Build, concurrency: number, count: number): Promise<RoundResult> =>
  generator.run({
    agentKey: `${b.name}:${concurrency}`,
    host: "127.0.0.1",
    port: b.port as number,
    path: exporter.url,
    hostHeader: `127.0.0.1:${exporter.port}`,
    concurrency,
    count,
    expectBytes: exporter.body.length,
  });

for (const c of flags.concurrency.split(",").map(Number)) {
  for (const b of builds) await round(b, c, 300); // warm-up
  for (const b of builds) {
    const pid = b.proc?.child.pid as number;
    process.kill(pid, "SIGUSR2"); // scripts/gc-marks.mjs, when preloaded: marks the start
    await new Promise((r) => setTimeout(r, 50));
    if (flags.timeline) {
      // c=1 from a client of our own that records when each request started (gc-timeline-client.ts).
      const out = join(flags.out, `${b.name}-timeline.json`);
      const client = fork(
        join(import.meta.dirname, "gc-timeline-client.ts"),
        [
          String(b.port),
          exporter.url,
          `127.0.0.1:${exporter.port}`,
          String(exporter.body.length),
          flags.count,
          out,
        ],
        { execArgv: ["--import", "tsx"] },
      );
      await new Promise((r) => client.once("exit", r));
      process.kill(pid, "SIGUSR2");
      await new Promise((r) => setTimeout(r, 400));
      console.log(`c=1 ${b.name}: timeline in ${out}`);
      continue;
    }
    const seen = exporter.requests.length;
    const before = usage(pid);
    const r = await round(b, c, Number(flags.count));
    process.kill(pid, "SIGUSR2");
    await new Promise((r) => setTimeout(r, 300));
    // Each exporter connection is one channel (sshd connects once per direct-tcpip channel).
    const channels = new Set(exporter.requests.slice(seen).map((q) => q.socket)).size;
    const after = usage(pid);
    const per = (k: "cpuMs" | "reads" | "writes") => ((after[k] - before[k]) / r.ok).toFixed(3);
    console.log(
      `c=${c} ${b.name}: per request CPU ${per("cpuMs")} ms, reads ${per("reads")}, writes ${per("writes")}; RSS ${after.rssMb.toFixed(1)} MB`,
    );
    console.log(
      `c=${c} ${b.name}: ${exporter.requests.length - seen} exporter requests on ${channels} channels`,
    );
    const l = r.latencies.sort((x, y) => x - y);
    const p = (q: number) => l[Math.max(0, Math.ceil(q * l.length) - 1)]?.toFixed(2);
    console.log(`c=${c} ${b.name}: ${r.ok} ok, ${r.errors} errors, p50 ${p(0.5)} p99 ${p(0.99)} ms`);
  }
}
generator.stop();
for (const b of builds) {
  await b.proc?.stop();
  if (b.logFd !== undefined) closeSync(b.logFd);
}
await exporter.close();
await sshd.stop();
process.exit(0);
