/**
 * The proxy sizes V8's old-generation headroom for its fleet (src/proxy/heap-growth.ts): bin/run.js starts
 * `sshscrape proxy` with a growing factor of 2.5, and a proxy configured for FLEET_HOSTS or more SSH hosts
 * lowers it to 1.5 (1.25 from LARGE_FLEET_HOSTS), at start and on reload. The memory effect is a benchmark's to show
 * (docs/benchmarks-scale.md); this checks the decision, in the process the user runs, without asserting on
 * memory or time. The flag itself is V8's: V8 has no API to read it back, so the log line is what is checked.
 */
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import {
  FLEET_HOSTS,
  heapGrowingPercent,
  LARGE_FLEET_HOSTS,
  sizeHeapForFleet,
} from "../../src/proxy/heap-growth.js";
import { startProxyCli } from "../e2e/proxy-process.js";
import { fleetLists } from "../helpers/fleet-list.js";
import { withReservedPort } from "../helpers/ports.js";
import { waitFor } from "../helpers/processes.js";

const { work, write: list } = fleetLists("heap-growth");

/** The growing-factor log lines the proxy wrote so far, as {hosts, heapGrowingPercent}. */
function sized(output: string): Array<{ hosts: number; heapGrowingPercent: number }> {
  return output
    .split("\n")
    .filter((l) => l.includes('"heapGrowingPercent"'))
    .map((l) => {
      const { hosts, heapGrowingPercent } = JSON.parse(l) as { hosts: number; heapGrowingPercent: number };
      return { hosts, heapGrowingPercent };
    });
}

describe("the old generation's growing factor follows the fleet", () => {
  it("is 2.5 below FLEET_HOSTS configured hosts, 1.5 from there on and 1.25 from LARGE_FLEET_HOSTS", () => {
    expect(heapGrowingPercent(1)).toBe(150);
    expect(heapGrowingPercent(FLEET_HOSTS - 1)).toBe(150);
    expect(heapGrowingPercent(FLEET_HOSTS)).toBe(50);
    expect(heapGrowingPercent(LARGE_FLEET_HOSTS - 1)).toBe(50);
    expect(heapGrowingPercent(LARGE_FLEET_HOSTS)).toBe(25);
    expect(heapGrowingPercent(2000)).toBe(25);
  });

  it("leaves the flags alone in a process bin/run.js did not tune (this test runner)", () => {
    expect(sizeHeapForFleet(2000)).toBeUndefined();
  });

  it("is set by `sshscrape proxy` at start and again on reload when the list grows or shrinks", async () => {
    const file = join(work, "targets.yaml");
    const proxy = await withReservedPort((port) => {
      list(file, port, FLEET_HOSTS + 50);
      return startProxyCli(file);
    });
    try {
      expect(sized(proxy.output())).toEqual([{ hosts: FLEET_HOSTS + 50, heapGrowingPercent: 50 }]);
      const port = Number(new URL(proxy.url).port);
      list(file, port, LARGE_FLEET_HOSTS);
      proxy.child.kill("SIGHUP");
      await waitFor("the reload's growing factor", () => sized(proxy.output()).length === 2, 15_000);
      expect(sized(proxy.output())[1]).toEqual({ hosts: LARGE_FLEET_HOSTS, heapGrowingPercent: 25 });
      list(file, port, 3);
      proxy.child.kill("SIGHUP");
      await waitFor("the second reload's growing factor", () => sized(proxy.output()).length === 3, 15_000);
      expect(sized(proxy.output())[2]).toEqual({ hosts: 3, heapGrowingPercent: 150 });
    } finally {
      await proxy.stop();
    }
  });
});
