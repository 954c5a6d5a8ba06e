/**
 * Summary of V8's `--trace-gc-nvp` lines (one name=value line per GC, each prefixed with the ms since the
 * isolate started): for scrips/bench-scale.ts `--gc-stats` and for reading a proxy log by hand:
 *
 *   npx tsx scripts/gc-nvp.ts LOG [FROM_MS [TO_MS]]
 *
 * Scavenges: count, wall-clock pause quantiles, the mean and p99 of each phase V8 times (roots; the parallel
 * phase, which also walks the old-to-new remembered set; weak handles; the ArrayBuffer sweep), what survived
 * and was promoted. Mark-compacts: count, pauses, and the incremental marking steps before them.
 */
import { readFileSync } from "node:fs";

export interface GcLine {
  /** ms since the isolate started. */
  at: number;
  fields: Record<string, string>;
}

const LINE = /^\[\d+:0x[0-9a-f]+\]\s+(\d+) ms: (pause=.*)$/;

/** The `--trace-gc-nvp` lines of `text` (other lines ignored). */
export function parseNvp(text: string): GcLine[] {
  const out: GcLine[] = [];
  for (const line of text.split("\n")) {
    const m = LINE.exec(line.trim());
    if (m === null) continue;
    const fields: Record<string, string> = {};
    for (const pair of (m[2] as string).split(" ")) {
      const eq = pair.indexOf("=");
      if (eq > 0) fields[pair.slice(0, eq)] = pair.slice(eq + 1);
    }
    out.push({ at: Number(m[1]), fields });
  }
  return out;
}

const num = (l: GcLine, k: string) => Number(l.fields[k] ?? Number.NaN);

function quantile(sorted: number[], q: number): number {
  if (sorted.length === 0) return Number.NaN;
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1))] as number;
}

const r2 = (x: number) => Math.round(x * 100) / 100;

/** p50 / p90 / p99 / max and the mean of `values`. */
export function spread(values: number[]): {
  p50: number;
  p90: number;
  p99: number;
  max: number;
  mean: number;
} {
  const s = [...values].sort((a, b) => a - b);
  const mean = s.reduce((a, b) => a + b, 0) / (s.length || 1);
  return {
    p50: r2(quantile(s, 0.5)),
    p90: r2(quantile(s, 0.9)),
    p99: r2(quantile(s, 0.99)),
    max: r2(s.at(-1) ?? Number.NaN),
    mean: r2(mean),
  };
}

/** The phases a scavenge's nvp line times, in ms. */
export const SCAVENGE_PHASES = [
  "scavenge.roots",
  "scavenge.parallel",
  "scavenge.weak",
  "scavenge.weak_global_handles.identify",
  "scavenge.weak_global_handles.process",
  "scavenge.update_refs",
  "scavenge.sweep_array_buffers",
  "scavenge.free_remembered_set",
  "heap.external.epilogue",
  "heap.external.prologue",
  "heap.epilogue",
  "time_to_safepoint",
] as const;

export interface GcSummary {
  windowS: number;
  scavenges: number;
  scavengesPerS: number;
  scavengePauseMs: ReturnType<typeof spread>;
  scavengePauseSumMs: number;
  /** Mean and p99 per phase, ms; and each phase's mean over the scavenges whose pause is in the top 5 %. */
  phases: Record<string, { mean: number; p99: number; slowMean: number }>;
  survivedKb: number;
  promotedKb: number;
  allocatedKbPerScavenge: number;
  markCompacts: number;
  markCompactPauseMs: ReturnType<typeof spread>;
  incrementalStepsMs: number;
}

/** Summary of the GCs in [fromMs, toMs) of the isolate's clock. */
export function summarize(lines: GcLine[], fromMs = 0, toMs = Number.POSITIVE_INFINITY): GcSummary {
  const inWindow = lines.filter((l) => l.at >= fromMs && l.at < toMs);
  const scavenges = inWindow.filter((l) => l.fields.gc === "s");
  const mcs = inWindow.filter((l) => l.fields.gc === "mc" || l.fields.gc === "ms");
  const last = inWindow.at(-1)?.at ?? fromMs;
  const windowS = (Math.min(toMs, last) - (Number.isFinite(fromMs) ? fromMs : 0)) / 1000;
  const pauses = scavenges.map((l) => num(l, "pause"));
  const cut = quantile(
    [...pauses].sort((a, b) => a - b),
    0.95,
  );
  const slow = scavenges.filter((l) => num(l, "pause") >= cut);
  const phases: GcSummary["phases"] = {};
  for (const p of SCAVENGE_PHASES) {
    const v = scavenges.map((l) => num(l, p)).filter((x) => !Number.isNaN(x));
    const sv = slow.map((l) => num(l, p)).filter((x) => !Number.isNaN(x));
    phases[p] = {
      mean: spread(v).mean,
      p99: spread(v).p99,
      slowMean: spread(sv).mean,
    };
  }
  const meanOf = (ls: GcLine[], k: string) => ls.reduce((a, l) => a + num(l, k), 0) / (ls.length || 1);
  return {
    windowS: r2(windowS),
    scavenges: scavenges.length,
    scavengesPerS: r2(scavenges.length / (windowS || 1)),
    scavengePauseMs: spread(pauses),
    scavengePauseSumMs: r2(pauses.reduce((a, b) => a + b, 0)),
    phases,
    survivedKb: r2(meanOf(scavenges, "new_space_survived") / 1024),
    promotedKb: r2(meanOf(scavenges, "promoted") / 1024),
    allocatedKbPerScavenge: r2(meanOf(scavenges, "allocated") / 1024),
    markCompacts: mcs.length,
    markCompactPauseMs: spread(mcs.map((l) => num(l, "pause"))),
    incrementalStepsMs: r2(inWindow.reduce((a, l) => a + (num(l, "incremental.steps_took") || 0), 0)),
  };
}

/** Markdown rows for a summary. */
export function summaryRows(s: GcSummary): Array<[string, string]> {
  const q = (x: ReturnType<typeof spread>) => `${x.p50} / ${x.p90} / ${x.p99} / ${x.max} (mean ${x.mean})`;
  return [
    [
      "GC, steady window: scavenges (per s), pause p50 / p90 / p99 / max ms",
      `${s.scavenges} (${s.scavengesPerS}/s), ${q(s.scavengePauseMs)}, sum ${s.scavengePauseSumMs} ms`,
    ],
    [
      "GC: scavenge phases, mean / p99 / mean of the slowest 5 % (ms)",
      Object.entries(s.phases)
        .filter(([, v]) => v.p99 > 0)
        .map(([k, v]) => `${k.replace("scavenge.", "")} ${v.mean}/${v.p99}/${v.slowMean}`)
        .join(", "),
    ],
    [
      "GC: per scavenge allocated / survived / promoted",
      `${s.allocatedKbPerScavenge} / ${s.survivedKb} / ${s.promotedKb} KB`,
    ],
    [
      "GC: mark-compacts, pause p50 / p90 / p99 / max ms; incremental steps",
      `${s.markCompacts}, ${q(s.markCompactPauseMs)}; ${s.incrementalStepsMs} ms`,
    ],
  ];
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const [file, from, to] = process.argv.slice(2);
  if (file === undefined) throw new Error("usage: gc-nvp.ts LOG [FROM_MS [TO_MS]]");
  const s = summarize(
    parseNvp(readFileSync(file, "utf8")),
    from === undefined ? 0 : Number(from),
    to === undefined ? Number.POSITIVE_INFINITY : Number(to),
  );
  for (const [k, v] of summaryRows(s)) process.stdout.write(`| ${k} | ${v} |\n`);
}
