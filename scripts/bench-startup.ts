/**
 * Start-up cost of `sshscrape proxy`: CPU to ready and idle RSS, for several builds or settings taking turns
 * (A, B, A, B, …), against a real sshd with one target (docs/benchmarks.md, "Start-up memory").
 *
 *   npm run bench:startup -- --rounds 5 \
 *     --variant "main=../main/bin/run.js" --variant "this=bin/run.js" \
 *     --variant "arena2=bin/run.js;env=MALLOC_ARENA_MAX=2" --variant "lazy=bin/run.js;node=--max-lazy"
 *
 * A variant is NAME=ENTRY, then `;node=FLAGS` (node's own flags, space-separated) and `;env=K=V,K=V`.
 * Each start: the proxy on 127.0.0.1:0, `/readyz` polled until 200 (it preconnects to the one target), then
 * its utime+stime ("CPU to ready") and VmRSS / RssAnon / RssFile from /proc; again after `--idle` seconds
 * (default 3) without requests; then SIGTERM. Prints the median and range per variant and the load average.
 * `--smaps` also prints, for the first start of each variant, the resident MB per mapping (the node binary,
 * anonymous memory, …); `--probe CMD` runs CMD with the proxy's PID at that moment (and again after the scrapes,
 * with `--scrapes`; scripts/mem-pages.ts is one such CMD). `--scrapes N` then sends N
 * scrapes of a 100 KB body through it, 16 at a time, and reports its CPU per scrape and RSS after them: a
 * quick check that a start-up setting (environment, V8 flag) costs nothing on the hot path. `--gc` starts every
 * variant with `--inspect=127.0.0.1:0` and also reports the RSS after a full GC forced through the inspector.
 */
import { execFileSync } from "node:child_process";
import { readdirSync, readFileSync, readlinkSync, writeFileSync } from "node:fs";
import { Agent, type IncomingMessage, request } from "node:http";
import { join, resolve } from "node:path";
import { parseArgs } from "node:util";
import { type Exporter, metricsBody, startExporter } from "../test/helpers/exporter.js";
import { start } from "../test/helpers/processes.js";
import { type Sshd, startSshd } from "../test/helpers/sshd.js";
import { connectInspector, inspectorUrl } from "./faults/inspector.js";

interface Variant {
  name: string;
  entry: string;
  nodeArgs: string[];
  env: Record<string, string>;
}

interface Sample {
  cpuMs: number;
  wallMs: number;
  rss: number;
  anon: number;
  file: number;
  idleRss: number;
  idleAnon: number;
  /** With --gc: VmRSS (KB) after a full garbage collection, at idle. */
  gcRss: number;
  /** With --scrapes: the proxy's own CPU per scrape (ms) and its RSS (KB) after them. */
  scrapeCpuMs: number;
  scrapeRss: number;
}

function parseVariant(spec: string): Variant {
  const [head = "", ...opts] = spec.split(";");
  const eq = head.indexOf("=");
  if (eq < 1) throw new Error(`--variant ${spec}: expected NAME=ENTRY[;node=FLAGS][;env=K=V,…]`);
  const v: Variant = { name: head.slice(0, eq), entry: resolve(head.slice(eq + 1)), nodeArgs: [], env: {} };
  for (const opt of opts) {
    if (opt.startsWith("node=")) v.nodeArgs = opt.slice(5).split(" ").filter(Boolean);
    else if (opt.startsWith("env="))
      for (const kv of opt.slice(4).split(",")) {
        const i = kv.indexOf("=");
        v.env[kv.slice(0, i)] = kv.slice(i + 1);
      }
    else throw new Error(`--variant ${spec}: unknown option ${opt}`);
  }
  return v;
}

const TICK_MS = 10; // getconf CLK_TCK = 100 on Linux

function cpuMs(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
  const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  // utime + stime, plus cutime + cstime: the CPU of any child process it waited for counts as its own.
  return (Number(fields[11]) + Number(fields[12]) + Number(fields[13]) + Number(fields[14])) * TICK_MS;
}

function memKb(pid: number): { rss: number; anon: number; file: number } {
  const status = readFileSync(`/proc/${pid}/status`, "utf8");
  const kb = (key: string) => Number(new RegExp(`^${key}:\\s+(\\d+)`, "m").exec(status)?.[1] ?? Number.NaN);
  return { rss: kb("VmRSS"), anon: kb("RssAnon"), file: kb("RssFile") };
}

function get(url: string, proxy?: { port: number; agent: Agent }): Promise<number> {
  return new Promise((res) => {
    const onResponse = (r: IncomingMessage) => {
      r.resume();
      r.on("end", () => res(r.statusCode ?? 0));
    };
    // Through the proxy: absolute-form request target, as Prometheus sends it.
    const req = proxy
      ? request({ host: "127.0.0.1", port: proxy.port, path: url, agent: proxy.agent }, onResponse)
      : request(url, { agent: false }, onResponse);
    req.on("error", () => res(0));
    req.end();
  });
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Resident KB per mapping (the node binary, anonymous memory, the heap, each library), largest first. */
function smapsSummary(pid: number): string {
  const rss = new Map<string, number>();
  let name = "";
  for (const line of readFileSync(`/proc/${pid}/smaps`, "utf8").split("\n")) {
    const m = /^[0-9a-f]+-[0-9a-f]+ \S+ \S+ \S+ \S+\s*(.*)$/.exec(line);
    if (m) name = m[1] || "[anon]";
    else if (line.startsWith("Rss:")) rss.set(name, (rss.get(name) ?? 0) + Number(line.split(/\s+/)[1]));
  }
  return [...rss]
    .sort((a, b) => b[1] - a[1])
    .slice(0, 6)
    .map(([n, kb]) => `${(kb / 1024).toFixed(1)} MB ${n}`)
    .join("; ");
}

async function once(
  v: Variant,
  config: string,
  idleS: number,
  smaps = false,
  probe?: string,
  scrapes?: { count: number; target: string },
  gc = false,
): Promise<Sample> {
  const t0 = performance.now();
  const proc = start(
    process.execPath,
    [
      ...(gc ? ["--inspect=127.0.0.1:0"] : []),
      ...v.nodeArgs,
      v.entry,
      "proxy",
      "--config",
      config,
      "--listen",
      "127.0.0.1:0",
      "--log-level",
      "warn",
    ],
    { env: { ...process.env, ...v.env } },
  );
  const pid = proc.child.pid as number;
  try {
    // --log-level warn hides the "listening" line; the port comes from the socket table instead.
    let url = "";
    while (!url) {
      if (proc.child.exitCode !== null) throw new Error(`${v.name} exited:\n${proc.output()}`);
      if (performance.now() - t0 > 20_000) throw new Error(`${v.name} did not listen:\n${proc.output()}`);
      // With --gc the inspector listens too: the proxy's port is the other one.
      const inspector = inspectorUrl(proc.output());
      if (gc && !inspector) {
        await sleep(5);
        continue;
      }
      const port = listeningPort(pid, inspector ? Number(new URL(inspector).port) : undefined);
      if (port) url = `http://127.0.0.1:${port}`;
      else await sleep(5);
    }
    while ((await get(`${url}/readyz`)) !== 200) {
      if (performance.now() - t0 > 20_000) throw new Error(`${v.name} not ready:\n${proc.output()}`);
      await sleep(5);
    }
    const wallMs = performance.now() - t0;
    const cpu = cpuMs(pid);
    const m = memKb(pid);
    await sleep(idleS * 1000);
    const idle = memKb(pid);
    // --gc: a full collection through the inspector (as the fault matrix does), so variants compare live
    // memory rather than two points of V8's collection cycle. --inspect itself costs some memory in every
    // variant alike.
    let gcRss = Number.NaN;
    if (gc) {
      const ws = inspectorUrl(proc.output());
      if (!ws) throw new Error(`${v.name}: no inspector URL in its output:\n${proc.output()}`);
      const inspector = await connectInspector(ws);
      await inspector.collectGarbage();
      inspector.close();
      await sleep(500);
      gcRss = memKb(pid).rss;
    }
    if (smaps) console.log(`${v.name}: ${smapsSummary(pid)}`);
    // --probe CMD: run with the proxy's PID as its last argument, at idle, in the first round (e.g. a heap
    // snapshot through --heapsnapshot-signal, or a page-residency script).
    if (smaps && probe) console.log(execFileSync("sh", ["-c", `${probe} ${pid}`], { encoding: "utf8" }));
    // --scrapes N: the hot path, for settings that could cost CPU per scrape (16 at a time, keep-alive).
    let scrapeCpuMs = Number.NaN;
    let scrapeRss = Number.NaN;
    if (scrapes && scrapes.count > 0) {
      const proxy = {
        port: Number(new URL(url).port),
        agent: new Agent({ keepAlive: true, maxSockets: 16 }),
      };
      const before = cpuMs(pid);
      let left = scrapes.count;
      const worker = async () => {
        while (left-- > 0)
          if ((await get(scrapes.target, proxy)) !== 200) throw new Error(`${v.name}: scrape failed`);
      };
      await Promise.all(Array.from({ length: 16 }, worker));
      scrapeCpuMs = (cpuMs(pid) - before) / scrapes.count;
      scrapeRss = memKb(pid).rss;
      proxy.agent.destroy();
      // The same views after the scrapes: what the hot path added (first round only, as above).
      if (smaps) console.log(`${v.name} after ${scrapes.count} scrapes: ${smapsSummary(pid)}`);
      if (smaps && probe) console.log(execFileSync("sh", ["-c", `${probe} ${pid}`], { encoding: "utf8" }));
    }
    return {
      cpuMs: cpu,
      wallMs,
      rss: m.rss,
      anon: m.anon,
      file: m.file,
      idleRss: idle.rss,
      idleAnon: idle.anon,
      gcRss,
      scrapeCpuMs,
      scrapeRss,
    };
  } finally {
    await proc.stop();
  }
}

/** A TCP port `pid` listens on (other than `except`), from /proc/net/tcp and its fds. */
function listeningPort(pid: number, except?: number): number | undefined {
  let inodes: Set<string>;
  try {
    inodes = new Set(
      readdirSync(`/proc/${pid}/fd`)
        .map((fd) => {
          try {
            return /^socket:\[(\d+)\]$/.exec(readlinkSync(`/proc/${pid}/fd/${fd}`))?.[1];
          } catch {
            return undefined;
          }
        })
        .filter((x): x is string => x !== undefined),
    );
  } catch {
    return undefined;
  }
  for (const line of readFileSync("/proc/net/tcp", "utf8").split("\n").slice(1)) {
    const f = line.trim().split(/\s+/);
    const port = Number.parseInt(f[1]?.split(":")[1] ?? "", 16);
    if (f[3] === "0A" && inodes.has(f[9] ?? "") && port !== except) return port;
  }
  return undefined;
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? (s[m] as number) : ((s[m - 1] as number) + (s[m] as number)) / 2;
}

function fmt(xs: number[], scale = 1, digits = 1): string {
  const v = xs.map((x) => x / scale);
  return `${median(v).toFixed(digits)} (${Math.min(...v).toFixed(digits)}–${Math.max(...v).toFixed(digits)})`;
}

async function main() {
  const { values } = parseArgs({
    options: {
      rounds: { type: "string", default: "3" },
      idle: { type: "string", default: "3" },
      variant: { type: "string", multiple: true },
      smaps: { type: "boolean", default: false },
      probe: { type: "string" },
      scrapes: { type: "string", default: "0" },
      gc: { type: "boolean", default: false },
    },
  });
  const variants = (values.variant ?? []).map(parseVariant);
  if (variants.length === 0) throw new Error("give at least one --variant NAME=ENTRY");
  const rounds = Number(values.rounds);
  const idleS = Number(values.idle);

  let sshd: Sshd | undefined;
  let exporter: Exporter | undefined;
  try {
    exporter = await startExporter({ body: metricsBody(100_000) });
    sshd = await startSshd({ permitOpen: [exporter.port] });
    const knownHosts = join(sshd.dir, "bench-startup-known-hosts");
    writeFileSync(knownHosts, `${sshd.knownHostsLine()}\n`);
    const config = join(sshd.dir, "bench-startup-targets.json");
    writeFileSync(
      config,
      JSON.stringify({
        proxy: { knownHostsFile: knownHosts },
        ssh: { user: sshd.user, port: sshd.port, key: { path: sshd.clientKeyPath } },
        targets: [{ host: "127.0.0.1", exporters: [{ name: "node", port: exporter.port }] }],
      }),
    );
    const loadBefore = readFileSync("/proc/loadavg", "utf8").split(" ").slice(0, 3).join(" ");
    const samples = new Map<string, Sample[]>(variants.map((v) => [v.name, []]));
    for (let r = 0; r < rounds; r++)
      for (const v of variants)
        samples.get(v.name)?.push(
          await once(
            v,
            config,
            idleS,
            values.smaps && r === 0,
            values.probe,
            {
              count: Number(values.scrapes),
              target: exporter.url,
            },
            values.gc,
          ),
        );
    const loadAfter = readFileSync("/proc/loadavg", "utf8").split(" ").slice(0, 3).join(" ");

    console.log(`${rounds} starts per variant, taking turns; load average ${loadBefore} → ${loadAfter}`);
    console.log(`median (min–max); RSS in MB; idle = ${idleS} s after /readyz\n`);
    const scraped = Number(values.scrapes) > 0;
    console.log(
      `| variant | CPU to ready ms | wall to ready ms | RSS at ready | RssAnon | RssFile | RSS idle | RssAnon idle |${
        values.gc ? " RSS after full GC |" : ""
      }${scraped ? ` CPU ms/scrape (${values.scrapes} × 100 KB, c=16) | RSS after scrapes |` : ""}`,
    );
    console.log(
      `|---|---:|---:|---:|---:|---:|---:|---:|${values.gc ? "---:|" : ""}${scraped ? "---:|---:|" : ""}`,
    );
    for (const v of variants) {
      const s = samples.get(v.name) ?? [];
      const col = (pick: (x: Sample) => number, scale = 1024, digits = 1) => fmt(s.map(pick), scale, digits);
      const cells = [
        col((x) => x.cpuMs, 1, 0),
        col((x) => x.wallMs, 1, 0),
        col((x) => x.rss),
        col((x) => x.anon),
        col((x) => x.file),
        col((x) => x.idleRss),
        col((x) => x.idleAnon),
        ...(values.gc ? [col((x) => x.gcRss)] : []),
        ...(Number(values.scrapes) > 0 ? [col((x) => x.scrapeCpuMs, 1, 3), col((x) => x.scrapeRss)] : []),
      ];
      console.log(`| ${v.name} | ${cells.join(" | ")} |`);
    }
  } finally {
    await sshd?.stop();
    await exporter?.close();
  }
}

await main();
