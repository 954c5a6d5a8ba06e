/**
 * A proxy configured for FLEET_YOUNG_HOSTS or more SSH hosts lets V8's young generation grow once, to
 * FLEET_SEMI_SPACE_MB per semi-space, and no further; a smaller fleet keeps it at the 1 MB bin/run.js pins
 * (src/proxy/young-generation.ts). What that does to scavenges and the scrape p99 is a benchmark's to show
 * (docs/benchmarks-scale.md, "Steady p99 at 2 000 targets"); this checks the size, as the user sees it in the
 * proxy's own /metrics (`nodejs_heap_space_size_{used,available}_bytes{space="new"}`), in the process the
 * user runs. The garbage that makes V8 grow the young generation here is the proxy's own /metrics pages,
 * fetched until the size is the target's (or a few thousand times); nothing is timed.
 */
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import {
  FLEET_SEMI_SPACE_MB,
  FLEET_YOUNG_HOSTS,
  growthFactor,
  semiSpaceMb,
  sizeYoungGeneration,
} from "../../src/proxy/young-generation.js";
import { proxyMetrics, select, sum } from "../e2e/proxy-client.js";
import { type RunningCli, startProxyCli } from "../e2e/proxy-process.js";
import { fleetLists } from "../helpers/fleet-list.js";
import { withReservedPort } from "../helpers/ports.js";

const { work, write: list } = fleetLists("young-generation");

const MB = 2 ** 20;

/**
 * The semi-space's capacity as the proxy reports it, MB: the new space's used + available bytes (its
 * `size_total` counts the second semi-space only while V8 keeps it committed).
 */
async function newSpaceMb(proxy: RunningCli): Promise<number> {
  const m = await proxyMetrics(proxy.url);
  const bytes = (name: string) => sum(select(m, name, { space: "new" }));
  return Math.round(
    (bytes("nodejs_heap_space_size_used_bytes") + bytes("nodejs_heap_space_size_available_bytes")) / MB,
  );
}

/**
 * Fetches /metrics (each page of a large fleet is a few hundred KB of strings, some alive across a
 * scavenge) until the semi-space reports `until` MB or `max` pages were fetched, then `more` pages; returns
 * every size seen.
 */
async function churn(proxy: RunningCli, until: number, max: number, more: number): Promise<number[]> {
  const seen: number[] = [];
  while (seen.length < max && seen.at(-1) !== until) seen.push(await newSpaceMb(proxy));
  for (let i = 0; i < more; i++) seen.push(await newSpaceMb(proxy));
  return seen;
}

async function withProxy(hosts: number, fn: (proxy: RunningCli) => Promise<void>): Promise<void> {
  const file = join(work, `targets-${hosts}.yaml`);
  const proxy = await withReservedPort((port) => {
    list(file, port, hosts);
    return startProxyCli(file);
  });
  try {
    await fn(proxy);
  } finally {
    await proxy.stop();
  }
}

describe("the young generation follows the fleet", () => {
  it("is 1 MB per semi-space below FLEET_YOUNG_HOSTS configured hosts, FLEET_SEMI_SPACE_MB from there", () => {
    expect(semiSpaceMb(1)).toBe(1);
    expect(semiSpaceMb(FLEET_YOUNG_HOSTS - 1)).toBe(1);
    expect(semiSpaceMb(FLEET_YOUNG_HOSTS)).toBe(FLEET_SEMI_SPACE_MB);
    expect(FLEET_SEMI_SPACE_MB).toBeGreaterThan(1);
  });

  it("doubles only while doubling stays within the target, from any size V8 shrank it to", () => {
    expect(growthFactor(1, 4)).toBe(2);
    expect(growthFactor(2, 4)).toBe(2);
    expect(growthFactor(4, 4)).toBe(1);
    // A mark-compact shrinks to twice what is live, rounded to a 256 KB page: doubling 2.5 MB would be 5.
    expect(growthFactor(2.5, 4)).toBe(1);
    expect(growthFactor(1.25, 4)).toBe(2);
    expect(growthFactor(1, 1)).toBe(1);
  });

  it("leaves the flags alone in a process bin/run.js did not tune (this test runner)", () => {
    expect(sizeYoungGeneration(2000)).toBeUndefined();
  });

  it("grows to FLEET_SEMI_SPACE_MB in a proxy for FLEET_YOUNG_HOSTS hosts, and no further", async () => {
    await withProxy(FLEET_YOUNG_HOSTS, async (proxy) => {
      const seen = await churn(proxy, FLEET_SEMI_SPACE_MB, 3000, 300);
      // Reached, and never past it: the factor that got it there is set back to 1 after the growth.
      expect(seen.at(-1)).toBe(FLEET_SEMI_SPACE_MB);
      expect(Math.max(...seen)).toBe(FLEET_SEMI_SPACE_MB);
      expect(proxy.output()).toContain(`"semiSpaceMb":${FLEET_SEMI_SPACE_MB}`);
    });
  }, 120_000);

  it("stays at the 1 MB bin/run.js pins for a fleet one host smaller, through the same garbage", async () => {
    await withProxy(FLEET_YOUNG_HOSTS - 1, async (proxy) => {
      expect(proxy.output()).not.toContain("semiSpaceMb");
      const seen = await churn(proxy, FLEET_SEMI_SPACE_MB, 3000, 300);
      expect(seen).toHaveLength(3300);
      expect(Math.max(...seen)).toBe(1);
    });
  }, 120_000);
});
