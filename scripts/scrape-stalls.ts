/**
 * What the slowest scrapes of a bench:scale run overlapped (scripts/bench-scale.ts `--gc-stats`): the proxy's
 * GCs (wall-clock timeline from scripts/gc-marks.mjs, GC_TIMELINE_OUT), gaps in its event loop (a 2 ms timer
 * late by more than a few ms, LAG_TIMELINE_OUT), and slow direct scrapes at the same moment (a stall of the
 * machine or of Prometheus, not of the proxy).
 */

/** A scrape as Prometheus recorded it: start (wall-clock ms) and scrape_duration_seconds in ms. */
export interface Scrape {
  at: number;
  ms: number;
}

/** [start wall-clock ms, duration ms, GC kind or a loop gap's CPU ms] as gc-marks.mjs writes them. */
export type Span = [number, number, number?];

export interface StallSummary {
  /** Scrapes at or above the threshold (the proxied scrapes' p99). */
  slow: number;
  thresholdMs: number;
  /** Of the slow scrapes: how many overlapped a scavenge, a mark-compact (or its incremental step), an
   *  event-loop gap of the proxy, a direct scrape at or above the direct p99, none of these. */
  withScavenge: number;
  withMarkCompact: number;
  withLoopGap: number;
  withSlowDirect: number;
  unexplained: number;
  /** Share of all proxied scrapes that overlapped any proxy GC, and of the slow ones (%). */
  allOverlappingGcPct: number;
  /** Event-loop gaps of the proxy in the window: count, ms summed, the longest. */
  loopGaps: number;
  loopGapMs: number;
  loopGapMaxMs: number;
  /** CPU the proxy used in its loop gaps, summed (ms): ≪ loopGapMs when it waited for a CPU, not worked. */
  loopGapCpuMs: number;
  /** The 10 slowest proxied scrapes with what they overlapped, for reading. */
  slowest: string[];
}

// perf_hooks' gc kinds (constants.NODE_PERFORMANCE_GC_*): 1 minor, 4 major, 8 incremental, 16 weak callbacks.
const MINOR = 1;

const overlaps = (s: Scrape, span: Span) => span[0] < s.at + s.ms && span[0] + span[1] > s.at;

/** Attributes the scrapes at or above `thresholdMs` (default: the p99 of `scrapes`). */
export function attributeStalls(
  scrapes: Scrape[],
  direct: Scrape[],
  gcs: Span[],
  gaps: Span[],
  thresholdMs?: number,
): StallSummary {
  const sortedMs = scrapes.map((s) => s.ms).sort((a, b) => a - b);
  const q = (sorted: number[], p: number) =>
    sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(p * sorted.length) - 1))] ?? Number.NaN;
  const threshold = thresholdMs ?? q(sortedMs, 0.99);
  const directSorted = direct.map((s) => s.ms).sort((a, b) => a - b);
  const directSlow = direct.filter((d) => d.ms >= q(directSorted, 0.99));
  const slow = scrapes.filter((s) => s.ms >= threshold).sort((a, b) => b.ms - a.ms);
  const scav = gcs.filter((g) => g[2] === MINOR);
  const major = gcs.filter((g) => g[2] !== MINOR);
  let withScavenge = 0;
  let withMarkCompact = 0;
  let withLoopGap = 0;
  let withSlowDirect = 0;
  let unexplained = 0;
  const slowest: string[] = [];
  for (const s of slow) {
    const sc = scav.filter((g) => overlaps(s, g));
    const mc = major.filter((g) => overlaps(s, g));
    const gp = gaps.filter((g) => overlaps(s, g));
    const dd = directSlow.filter((d) => overlaps(s, [d.at, d.ms]));
    if (sc.length > 0) withScavenge++;
    if (mc.length > 0) withMarkCompact++;
    if (gp.length > 0) withLoopGap++;
    if (dd.length > 0) withSlowDirect++;
    if (sc.length + mc.length + gp.length + dd.length === 0) unexplained++;
    if (slowest.length < 10) {
      const ms = (xs: Span[]) => xs.map((x) => x[1].toFixed(1)).join("+") || "–";
      const cpu = gp.map((x) => (x[2] ?? 0).toFixed(1)).join("+");
      slowest.push(
        `${s.ms.toFixed(1)} ms: scavenges ${ms(sc)}, major ${ms(mc)}, loop gaps ${ms(gp)}${cpu ? ` (CPU ${cpu})` : ""}, slow direct ${dd.length}`,
      );
    }
  }
  const anyGc = scrapes.filter((s) => gcs.some((g) => overlaps(s, g))).length;
  return {
    slow: slow.length,
    thresholdMs: Math.round(threshold * 10) / 10,
    withScavenge,
    withMarkCompact,
    withLoopGap,
    withSlowDirect,
    unexplained,
    allOverlappingGcPct: Math.round((anyGc / (scrapes.length || 1)) * 1000) / 10,
    loopGaps: gaps.length,
    loopGapMs: Math.round(gaps.reduce((a, g) => a + g[1], 0)),
    loopGapMaxMs: Math.round(Math.max(0, ...gaps.map((g) => g[1])) * 10) / 10,
    loopGapCpuMs: Math.round(gaps.reduce((a, g) => a + (g[2] ?? 0), 0)),
    slowest,
  };
}
