// Preload for scripts/gc-probe.ts (`--import ./scripts/gc-marks.mjs` in a proxy spec): each SIGUSR2 writes a
// marker line to stdout (between V8's --trace-gc lines) and, with HEAP_SAMPLE_OUT=FILE in the environment,
// starts V8's sampling heap profiler (objects collected by scavenges and mark-compacts included) on the first
// signal and writes the profile to FILE on the second; with GC_TIMELINE_OUT=FILE, every GC between the two
// signals (start as wall-clock ms, duration, kind) is written to FILE.
import { writeFileSync, writeSync } from "node:fs";
import { Session } from "node:inspector";
import { PerformanceObserver } from "node:perf_hooks";

// GC_MEM_EVERY_MS=N: prints process.memoryUsage()'s external and arrayBuffers every N ms while marked.
const memEvery = Number(process.env.GC_MEM_EVERY_MS ?? 0);

const out = process.env.HEAP_SAMPLE_OUT;

// SSH_COUNT=FILE: counts ssh2's outgoing channel data and window adjustments (the ACK nudges) while marked.
const sshOut = process.env.SSH_COUNT;
const sshCounts = { channelData: 0, channelWindowAdjust: 0 };
if (sshOut !== undefined) {
  const { createRequire } = await import("node:module");
  const require = createRequire(`${process.cwd()}/node_modules/`);
  const Protocol = require("ssh2/lib/protocol/Protocol.js");
  for (const name of Object.keys(sshCounts)) {
    const original = Protocol.prototype[name];
    Protocol.prototype[name] = function (...args) {
      if (on) sshCounts[name]++;
      return original.apply(this, args);
    };
  }
}
const interval = Number(process.env.HEAP_SAMPLE_INTERVAL ?? 512);
const gcOut = process.env.GC_TIMELINE_OUT;
let session;
let on = false;
/** [start wall-clock ms, duration ms, kind] of every GC between the two signals (GC_TIMELINE_OUT). */
const gcs = [];
const observer = new PerformanceObserver((list) => {
  if (!on) return;
  for (const e of list.getEntries())
    gcs.push([performance.timeOrigin + e.startTime, e.duration, e.detail?.kind]);
});
if (gcOut !== undefined) observer.observe({ entryTypes: ["gc"] });
// TICK_COUNT=FILE: counts process.nextTick calls by callback name between the two signals.
const tickOut = process.env.TICK_COUNT;
const ticks = new Map();
if (tickOut !== undefined) {
  const original = process.nextTick;
  process.nextTick = (fn, ...args) => {
    if (on) ticks.set(fn.name, (ticks.get(fn.name) ?? 0) + 1);
    return original.call(process, fn, ...args);
  };
}
// LAG_TIMELINE_OUT=FILE: while marked, a 2 ms timer records each gap of more than LAG_MIN_MS (default 4) between
// its ticks, [wall-clock ms when the gap began, gap ms, CPU ms the process used in it]: the event loop was
// busy (CPU ≈ gap) or the process was not running (CPU ≪ gap: descheduled on a busy machine) that long. Costs ~500 wake-ups a second; for diagnosis only.
const lagOut = process.env.LAG_TIMELINE_OUT;
const lagMin = Number(process.env.LAG_MIN_MS ?? 4);
const lags = [];
let lagTimer;
process.on("SIGUSR2", () => {
  on = !on;
  if (lagOut !== undefined && on) {
    let last = performance.now();
    let lastCpu = process.cpuUsage();
    lagTimer = setInterval(() => {
      const now = performance.now();
      const cpu = process.cpuUsage();
      // The third field: ms of CPU the process used during the gap (all threads: GC helpers count too).
      if (now - last > lagMin)
        lags.push([
          performance.timeOrigin + last,
          now - last,
          (cpu.user + cpu.system - lastCpu.user - lastCpu.system) / 1000,
        ]);
      last = now;
      lastCpu = cpu;
    }, 2);
  }
  if (lagOut !== undefined && !on) {
    clearInterval(lagTimer);
    writeFileSync(lagOut, JSON.stringify(lags));
  }
  const m = process.memoryUsage();
  writeSync(
    1,
    `GCPROBE ${on ? "start" : "end"} ${performance.now().toFixed(0)} external=${m.external} arrayBuffers=${m.arrayBuffers} heapUsed=${m.heapUsed}\n`,
  );
  if (gcOut !== undefined && !on) setTimeout(() => writeFileSync(gcOut, JSON.stringify(gcs)), 100);
  if (sshOut !== undefined && !on) writeFileSync(sshOut, JSON.stringify(sshCounts));
  if (tickOut !== undefined && !on)
    writeFileSync(tickOut, JSON.stringify([...ticks].sort((a, b) => b[1] - a[1])));
  if (memEvery > 0 && on) {
    const t = setInterval(() => {
      if (!on) return clearInterval(t);
      const u = process.memoryUsage();
      writeSync(
        1,
        `GCPROBE mem ${performance.now().toFixed(0)} external=${u.external} arrayBuffers=${u.arrayBuffers}\n`,
      );
    }, memEvery);
  }
  if (out === undefined) return;
  if (on) {
    session = new Session();
    session.connect();
    session.post("HeapProfiler.startSampling", {
      samplingInterval: interval,
      includeObjectsCollectedByMajorGC: true,
      // HEAP_SAMPLE_SURVIVORS=1: only what survived a scavenge (promoted, or still alive at the end).
      includeObjectsCollectedByMinorGC: process.env.HEAP_SAMPLE_SURVIVORS !== "1",
    });
  } else {
    session.post("HeapProfiler.stopSampling", (err, res) => {
      if (err) writeSync(2, `heap sample: ${err.message}\n`);
      else writeFileSync(out, JSON.stringify(res.profile));
      session.disconnect();
    });
  }
});
