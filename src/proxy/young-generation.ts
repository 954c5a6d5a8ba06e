/**
 * The young generation's size for the fleet the proxy serves (docs/benchmarks-scale.md, "Steady p99 at 2 000
 * targets (issue 14, round 6)"). bin/run.js pins it at V8's initial 1 MB semi-space
 * (`--semi-space-growth-factor=1`): with few hosts at high request rates a young generation free to grow kept
 * ~50 MB of dead Buffers resident, and a fixed 2 or 4 MB one cost CPU per scrape (docs/benchmarks.md, "V8
 * flags", "Garbage per scrape").
 *
 * A large fleet is the other case: 2 000 hosts at a 15 s interval are ~130 scrapes a second, ~3 scavenges a
 * second of the 1 MB semi-space, and each scrape is as likely to overlap one as its share of the time. From
 * FLEET_YOUNG_HOSTS configured hosts on, the proxy lets the semi-space grow to FLEET_SEMI_SPACE_MB: V8 grows
 * it by `--semi-space-growth-factor` at the scavenge after which more has survived since the last growth than
 * its capacity (a few seconds at that rate), and reads the flag at that moment, so after each GC (a GC
 * observer) the factor is set to 2 while doubling stays within the target and to 1 otherwise, which is also
 * what holds it there: `--max-semi-space-size` is read only when the process starts (and V8 raises a factor
 * below 2 to 2 at that point, so bin/run.js sets it at run time too).
 *
 * Below FLEET_YOUNG_HOSTS nothing changes. After a reload to a smaller fleet the factor goes back to 1; V8
 * itself shrinks the semi-space again at a mark-compact once the allocation rate is low.
 *
 * Only in a process whose V8 flags bin/run.js set (as heap-growth.ts: not in tests, not under NODE_OPTIONS
 * experiments).
 */

import { PerformanceObserver } from "node:perf_hooks";
import { getHeapSpaceStatistics, setFlagsFromString } from "node:v8";
import type { Logger } from "pino";

/** From this many configured SSH hosts on, the semi-space grows to FLEET_SEMI_SPACE_MB. */
export const FLEET_YOUNG_HOSTS = 1000;

/** The semi-space size for a fleet of FLEET_YOUNG_HOSTS or more, MB: a power of two (steer() doubles). */
export const FLEET_SEMI_SPACE_MB = 4;

/** Set by bin/run.js when it tuned V8 for `sshscrape proxy` (heap-growth.ts reads the same marker). */
const TUNED = Symbol.for("sshscrape.heapTuning");

/** The semi-space size (MB) for `hosts` configured hosts; 1 = V8's initial size, where bin/run.js holds it. */
export function semiSpaceMb(hosts: number): number {
  return hosts >= FLEET_YOUNG_HOSTS ? FLEET_SEMI_SPACE_MB : 1;
}

/**
 * The semi-space's capacity now, MB, to V8's 256 KB page (its usable capacity is a little below the size).
 * Read as the new space's used + available bytes, i.e. the semi-space allocated into: `space_size` counts
 * the other semi-space only while it is committed, and V8 uncommits it at memory-reducing GCs, so half of it
 * would read 2 MB for a 4 MB semi-space at times, and a factor steered by that overshoots to 8 and 16 MB (it
 * did: 162 MB of RSS at 2 000 hosts in this branch's first runs).
 */
export function currentSemiSpaceMb(): number {
  const space = getHeapSpaceStatistics().find((s) => s.space_name === "new_space");
  if (space === undefined) return 1;
  return Math.max(1, Math.round((space.space_used_size + space.space_available_size) / 2 ** 18) / 4);
}

/**
 * V8's growth factor for a semi-space of `nowMb` steered to `targetMb`: 2 while doubling stays within the
 * target, else 1. Not "2 below the target": V8 shrinks the semi-space at a mark-compact to twice what is
 * live, rounded to a page, so it can sit at e.g. 2.5 MB, and doubling that gave a 5 MB semi-space (10 MB
 * committed) at 2 000 hosts (2026-12-01 02:40 UTC run). Doubling, not one step of target/now: the factor is
 * an integer, and the observer runs after the GC, as a task, so a factor of 4 still set when a busy warm-up
 * had already survived enough for a second growth would take a 4 MB semi-space to 16 MB.
 */
export function growthFactor(nowMb: number, targetMb: number): 1 | 2 {
  return nowMb * 2 <= targetMb ? 2 : 1;
}

let observer: PerformanceObserver | undefined;
/** The semi-space size the observer steers to, MB. */
let target = 1;

/** Sets V8's growth factor for the semi-space's size now (growthFactor). */
function steer(): void {
  setFlagsFromString(`--semi-space-growth-factor=${growthFactor(currentSemiSpaceMb(), target)}`);
}

/**
 * Lets the semi-space grow to semiSpaceMb(hosts), and back there after V8 shrinks it (it does
 * at a mark-compact when the allocation rate is low, e.g. after the warm-up's handshakes): after every GC,
 * the factor is set for the size V8 left. For a small fleet the factor is 1 and nothing watches the GCs.
 * Returns the target in MB, or undefined when bin/run.js did not tune this process.
 */
export function sizeYoungGeneration(hosts: number): number | undefined {
  if ((globalThis as Record<symbol, unknown>)[TUNED] !== true) return undefined;
  target = semiSpaceMb(hosts);
  steer();
  if (target > 1 && observer === undefined) {
    observer = new PerformanceObserver(steer);
    observer.observe({ entryTypes: ["gc"] });
  } else if (target <= 1) {
    observer?.disconnect();
    observer = undefined;
  }
  return target;
}

/** sizeYoungGeneration, logged (`semiSpaceMb`) when it lets the young generation grow: at start and on reload. */
export function fitYoungGeneration(hosts: number, logger: Pick<Logger, "info">): void {
  const mb = sizeYoungGeneration(hosts);
  if (mb !== undefined && mb > 1)
    logger.info({ hosts, semiSpaceMb: mb }, "V8 young generation grows to its size for the fleet");
}
