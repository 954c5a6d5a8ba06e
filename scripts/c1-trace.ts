/**
 * `npx tsx scripts/c1-trace.ts [--netns] --proxy "NAME … BIN"`: where one scrape at c=1 waits, from kernel
 * tracepoints instead of strace. Starts the bench's sshd and exporter and one proxy (scripts/bench-ab.ts's
 * spec syntax), drives c=1 scrapes through it, and records for `--seconds` (after `--warmup` ms)
 * `tcp:tcp_probe` (every segment a socket receives, with its length), `sock:sock_recv_length` and
 * `sock:sock_send_length` (every read and write with its size) system-wide with `perf record -a`. Then, per
 * scrape on the proxy's SSH connection (from the request packet on), it prints the phases' median and p90:
 *
 * - req→data: the request packet to sshd's first response segment (sshd, the exporter, sshd again);
 * - data span: sshd's first to last response segment as this side's kernel received them;
 * - data→read: the first response segment to the proxy's first read of it (its wake-up);
 * - read→end: that read to the proxy's last write to the client;
 * - per scrape: reads and writes of the proxy on the SSH socket, window-adjust nudges (36-byte writes), and
 *   `released`: response segments that arrived in the proxy's own context right after one of its ACKs, i.e.
 *   that sshd had held (Nagle) until this side acknowledged (a read's ACK or a nudge).
 *
 * With `--netns` it runs in a network namespace whose loopback has MTU 1500 (scripts/bench-netns.ts). Needs
 * root (perf -a, unshare). Tracepoints are system-wide: other processes' traffic is recorded too and left out
 * by the proxy's pid and sshd's port. perf's own overhead slows every process: compare runs of this script
 * with each other, not with the bench.
 *
 *   npx tsx scripts/c1-trace.ts --netns --proxy "main /work/wt/now/bin/run.js"
 */
import { execFileSync, spawn } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { LoadGenerator } from "./bench-load-client.js";
import { rerunInNetns } from "./bench-netns.js";
import { parseProxySpec } from "./proxy-spec.js";
import { startLab, startSpecProxy } from "./spec-lab.js";

const { values: flags } = parseArgs({
  options: {
    proxy: { type: "string" },
    body: { type: "string", default: "100000" },
    warmup: { type: "string", default: "3000" },
    seconds: { type: "string", default: "1.5" },
    netns: { type: "boolean", default: false },
    "in-netns": { type: "boolean", default: false },
  },
});
if (flags.proxy === undefined) {
  console.error('usage: npx tsx scripts/c1-trace.ts [--netns] [--seconds S] --proxy "NAME [NODE-ARGS…] BIN"');
  process.exit(2);
}
if (flags.netns && !flags["in-netns"]) {
  const res = rerunInNetns(import.meta.filename, process.argv.slice(2), { stdio: "inherit" });
  process.exit(res.status ?? 1);
}

const spec = parseProxySpec(flags.proxy);
const lab = await startLab(Number(flags.body));
const { proc, port } = await startSpecProxy(lab, spec, "trace");
const proxyPid = proc.child.pid as number;
const sshdPort = lab.sshd.port;
const generator = new LoadGenerator();
let stop = false;
const drive = (async () => {
  while (!stop)
    await generator.run({
      agentKey: "trace",
      host: "127.0.0.1",
      port,
      path: lab.exporter.url,
      hostHeader: `127.0.0.1:${lab.exporter.port}`,
      concurrency: 1,
      durationMs: 250,
      expectBytes: lab.exporter.body.length,
    });
})();
await new Promise((r) => setTimeout(r, Number(flags.warmup)));
const dir = mkdtempSync(join(tmpdir(), "c1-trace-"));
const data = join(dir, "perf.data");
const events = ["tcp:tcp_probe", "sock:sock_recv_length", "sock:sock_send_length"];
const perf = spawn(
  "perf",
  ["record", "-q", ...events.flatMap((e) => ["-e", e]), "-a", "-o", data, "--", "sleep", flags.seconds],
  { stdio: "inherit" },
);
await new Promise((r) => perf.once("exit", r));
stop = true;
await drive;
generator.stop();
await proc.stop();
await lab.exporter.close();
await lab.sshd.stop();
const text = execFileSync("perf", ["script", "-i", data, "-F", "comm,pid,time,event,trace"], {
  encoding: "utf8",
  maxBuffer: 1 << 30,
  stdio: ["ignore", "pipe", "ignore"],
});
rmSync(dir, { recursive: true, force: true });

/** One event on the proxy's SSH connection, or one read or write of the proxy process. */
interface Ev {
  t: number;
  pid: number;
  kind: "to-sshd" | "to-proxy" | "read" | "write";
  len: number;
  /** For reads and writes: the socket (kernel address). */
  sk?: string;
}
const evs: Ev[] = [];
let proxyPort: string | undefined;
const line = /^\s*(.+?)\s+(\d+)\s+([\d.]+):\s+(\S+):\s*(.*)$/;
const probe = /src=[\d.]+:(\d+) dest=[\d.]+:(\d+) .*?data_len=(\d+) /;
const rw = /sk address = (\S+),.*length = (-?\d+)/;
for (const l of text.split("\n")) {
  const m = line.exec(l);
  if (!m) continue;
  const [, , pidText, t, event, rest] = m as unknown as string[];
  const pid = Number(pidText);
  if (event === "tcp:tcp_probe") {
    const p = probe.exec(rest as string);
    if (!p) continue;
    const [, src, dst, len] = p as unknown as string[];
    // The probe names the receiving socket's own address first: to sshd when src is sshd's port.
    if (src === String(sshdPort) && pid === proxyPid) proxyPort ??= dst;
    const other = src === String(sshdPort) ? dst : dst === String(sshdPort) ? src : undefined;
    if (other === undefined || (proxyPort !== undefined && other !== proxyPort)) continue;
    evs.push({
      t: Number(t),
      pid,
      kind: src === String(sshdPort) ? "to-sshd" : "to-proxy",
      len: Number(len),
    });
  } else if (pid === proxyPid) {
    const p = rw.exec(rest as string);
    if (!p) continue;
    evs.push({
      t: Number(t),
      pid,
      kind: event === "sock:sock_recv_length" ? "read" : "write",
      len: Number(p[2]),
      sk: p[1],
    });
  }
}
if (proxyPort === undefined) {
  console.error("c1-trace: no segment from the proxy to sshd was recorded");
  process.exit(1);
}

// The proxy's SSH socket: the one it writes request packets to (the 'to-sshd' segment of the same length just
// before). Everything else it writes is a client socket.
let sshSk: string | undefined;
for (let i = 1; i < evs.length && sshSk === undefined; i++) {
  const e = evs[i] as Ev;
  const prev = evs[i - 1] as Ev;
  if (e.kind === "write" && prev.kind === "to-sshd" && prev.len === e.len && e.len > 100) sshSk = e.sk;
}

interface Scrape {
  req: number;
  data: number[];
  sshReads: number[];
  clientWrites: number[];
  nudges: number;
  released: number;
}
const scrapes: Scrape[] = [];
let cur: Scrape | undefined;
let lastAckAt = -1;
for (const e of evs) {
  if (e.kind === "to-sshd" && e.len > 100 && e.pid === proxyPid) {
    if (cur) scrapes.push(cur);
    cur = { req: e.t, data: [], sshReads: [], clientWrites: [], nudges: 0, released: 0 };
    continue;
  }
  if (!cur) continue;
  if (e.kind === "to-sshd" && e.pid === proxyPid) lastAckAt = e.t;
  if (e.kind === "to-sshd" && e.len === 36) cur.nudges++;
  if (e.kind === "to-proxy" && e.len > 0) {
    cur.data.push(e.t);
    // Sent in the proxy's own context within 50 µs of its ACK: sshd was holding it for that ACK.
    if (e.pid === proxyPid && e.t - lastAckAt < 50e-6) cur.released++;
  }
  if (e.kind === "read" && e.sk === sshSk) cur.sshReads.push(e.t);
  if (e.kind === "write" && e.sk !== sshSk && e.len > 200) cur.clientWrites.push(e.t);
}
const done = scrapes.filter((s) => s.data.length > 0 && s.sshReads.length > 0 && s.clientWrites.length > 0);
const q = (xs: number[], p: number) => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor(p * s.length))] ?? Number.NaN;
};
const ms = (xs: number[]) => `${(q(xs, 0.5) * 1e3).toFixed(3)} / ${(q(xs, 0.9) * 1e3).toFixed(3)}`;
const mean = (xs: number[]) => (xs.reduce((a, b) => a + b, 0) / (xs.length || 1)).toFixed(2);
const at = (xs: number[], i: number) => xs.at(i) as number;
console.log(
  `${spec.name}: ${done.length} scrapes traced (sshd port ${sshdPort}, proxy port ${proxyPort}); ms median / p90`,
);
console.log(
  `  total (request packet → last client write) ${ms(done.map((s) => at(s.clientWrites, -1) - s.req))}`,
);
console.log(`  req→data ${ms(done.map((s) => at(s.data, 0) - s.req))}`);
console.log(`  data span ${ms(done.map((s) => at(s.data, -1) - at(s.data, 0)))}`);
console.log(`  data→read ${ms(done.map((s) => at(s.sshReads, 0) - at(s.data, 0)))}`);
console.log(`  read→end ${ms(done.map((s) => at(s.clientWrites, -1) - at(s.sshReads, 0)))}`);
console.log(
  `  per scrape: SSH reads ${mean(done.map((s) => s.sshReads.length))}, client writes ${mean(done.map((s) => s.clientWrites.length))}, nudges ${mean(done.map((s) => s.nudges))}, released ${mean(done.map((s) => s.released))} (scrapes with one: ${((done.filter((s) => s.released > 0).length * 100) / (done.length || 1)).toFixed(0)} %)`,
);
process.exit(0);
