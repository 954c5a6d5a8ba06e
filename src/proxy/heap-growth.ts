/**
 * V8's old-generation growing factor for the fleet the proxy serves (docs/benchmarks-scale.md, "Peak RSS at
 * 2 000 targets"). bin/run.js starts `sshscrape proxy` with a factor of 2.5 (`--heap-growing-percent=150`):
 * after each full GC, V8 lets the old generation grow to 2.5 times what survived before it collects again.
 *
 * With a large fleet, most of what survives is per-host state (~16–20 KB of heap per SSH connection with its
 * idle channel and series), and each scrape promotes ~10 KB that dies in the old generation by the next
 * one. So the headroom of a factor 2 grows with the fleet: ~22 MB of RSS at 1 000 hosts, ~40 MB at 2 000,
 * for full GCs that cost ~30 ms every 20–40 s. A factor of 1.5 halves that headroom (1 000 hosts: RSS peak
 * 103 vs 113–119 MB) and leaves the GC's share of the CPU under 1 % of a core at fleet scale. With few
 * hosts the live heap is small and the same factor only makes the full GCs more frequent at high request
 * rates (one host at 64 concurrent scrapes: 1.15–1.18× the proxy CPU per scrape), so small fleets keep more.
 *
 * Small fleets get 2.5, not 2: with a live heap of ~9 MB, a factor of 2 left ~9 MB of room, and the
 * ArrayBuffers of ~40–60 scrapes between two scavenges (socket reads and SSH packets, ~130 KB per scrape, up
 * to 8 MB) were enough to start a mark-compact every 0.5–1 s at steady state with nothing to collect (9.0 →
 * 8.7 MB): 8–17 mark-compacts per 8 000 scrapes at 16 concurrent, 0–2 with 2.5 (docs/benchmarks.md,
 * "Garbage per scrape"). Little is promoted per scrape now, so the extra room costs little memory.
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
import { fitYoungGeneration } from "./young-generation.js";

/** From this many configured SSH hosts on, the per-host state is most of the heap (≥ ~5 MB live). */
export const FLEET_HOSTS = 250;

/** From this many configured SSH hosts on (≥ ~32 MB live), the factor is 1.25. */
export const LARGE_FLEET_HOSTS = 1000;

/** `--heap-growing-percent` below FLEET_HOSTS hosts; bin/run.js starts with it too. */
export const SMALL_FLEET_PERCENT = 150;

/** `--heap-growing-percent` for a proxy with `hosts` configured SSH hosts. */
export function heapGrowingPercent(hosts: number): number {
  if (hosts >= LARGE_FLEET_HOSTS) return 25;
  return hosts >= FLEET_HOSTS ? 50 : SMALL_FLEET_PERCENT;
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

/**
 * sizeHeapForFleet, logged (`heapGrowingPercent`) when applied, and the young generation's size for the
 * fleet (young-generation.ts): at start and on each reload.
 */
export function fitHeap(hosts: number, logger: Pick<Logger, "info">): void {
  const percent = sizeHeapForFleet(hosts);
  if (percent !== undefined)
    logger.info({ hosts, heapGrowingPercent: percent }, "V8 old-generation growing factor set for the fleet");
  fitYoungGeneration(hosts, logger);
}
