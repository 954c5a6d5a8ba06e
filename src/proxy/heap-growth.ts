/**
 * V8's old-generation growing factor for the fleet the proxy serves (docs/benchmarks-scale.md, "Peak RSS at
 * 2 000 targets"). bin/run.js starts `sshscrape proxy` with a factor of 2 (`--heap-growing-percent=100`):
 * after each full GC, V8 lets the old generation grow to twice what survived before it collects again.
 *
 * With a large fleet, most of what survives is per-host state (~16–20 KB of heap per SSH connection with its
 * idle channel and series), and each scrape promotes ~10 KB that dies in the old generation by the next
 * one. So the headroom of a factor 2 grows with the fleet: ~22 MB of RSS at 1 000 hosts, ~40 MB at 2 000,
 * for full GCs that cost ~30 ms every 20–40 s. A factor of 1.5 halves that headroom (1 000 hosts: RSS peak
 * 103 vs 113–119 MB) and leaves the GC's share of the CPU under 1 % of a core at fleet scale. With few
 * hosts the live heap is small and the same factor only makes the full GCs more frequent at high request
 * rates (one host at 64 concurrent scrapes: 1.15–1.18× the proxy CPU per scrape), so small fleets keep 2.
 *
 * From LARGE_FLEET_HOSTS on, a factor of 1.25 (round 4, "Peak RSS at 2 000 targets with open channels"): with
 * every host holding an idle channel, 2 000 hosts leave ~50–56 MB live after a full GC, so 1.5 still let the
 * old generation reach ~80 MB, a peak RSS of ~150–163 MB. V8 grows the limit by at least 8 MB whatever the
 * factor, so below ~1 000 hosts (≤ ~32 MB live) 1.25 and 1.5 are nearly the same limit; above, 1.25 takes
 * half the headroom away for one more full GC (~50–150 ms at 50 MB live) per ~13 MB of promoted garbage.
 *
 * V8 reads the flag at each full GC's sizing, so setting it at start and on reload takes effect at the next
 * one. Only in a process whose flags bin/run.js set (not in tests, not under NODE_OPTIONS experiments).
 */
import { setFlagsFromString } from "node:v8";
import type { Logger } from "pino";

/** From this many configured SSH hosts on, the per-host state is most of the heap (≥ ~5 MB live). */
export const FLEET_HOSTS = 250;

/** From this many configured SSH hosts on (≥ ~32 MB live), the factor is 1.25. */
export const LARGE_FLEET_HOSTS = 1000;

/** `--heap-growing-percent` for a proxy with `hosts` configured SSH hosts. */
export function heapGrowingPercent(hosts: number): number {
  if (hosts >= LARGE_FLEET_HOSTS) return 25;
  return hosts >= FLEET_HOSTS ? 50 : 100;
}

/** Set by bin/run.js when it tuned V8's heap for `sshscrape proxy`. */
const TUNED = Symbol.for("sshscrape.heapTuning");

/** Applies heapGrowingPercent(hosts); returns it, or undefined when bin/run.js did not tune this process. */
export function sizeHeapForFleet(hosts: number): number | undefined {
  if ((globalThis as Record<symbol, unknown>)[TUNED] !== true) return undefined;
  const percent = heapGrowingPercent(hosts);
  setFlagsFromString(`--heap-growing-percent=${percent}`);
  return percent;
}

/** sizeHeapForFleet, logged (`heapGrowingPercent`) when applied: at start and on each reload. */
export function fitHeap(hosts: number, logger: Pick<Logger, "info">): void {
  const percent = sizeHeapForFleet(hosts);
  if (percent !== undefined)
    logger.info({ hosts, heapGrowingPercent: percent }, "V8 old-generation growing factor set for the fleet");
}
