/**
 * The proxy's idea of which shard a host is in (src/config/shard.ts) against Debian's real Prometheus: the
 * generated relabel rules, applied by Prometheus itself to a few hundred targets of every address kind, must
 * keep exactly the targets `shardOf` assigns to each shard. Prometheus never needs to reach these targets:
 * relabeling happens at discovery, and /api/v1/targets lists what each job kept.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { joinHostPort, shardOf, shardRelabelConfigs } from "../../src/config/index.js";
import { waitFor } from "../helpers/processes.js";
import { type Prometheus, startPrometheus } from "../helpers/prometheus.js";

/** DNS names, IPv4 and IPv6 literals (bracketed in __address__), several ports per host. */
function hosts(): string[] {
  const out: string[] = [];
  for (let i = 0; i < 120; i++) out.push(`host-${i}.shard-test.invalid`);
  for (let i = 0; i < 60; i++) out.push(`10.${i}.${(i * 7) % 256}.${(i * 13) % 256}`);
  for (let i = 0; i < 40; i++) out.push(`fd00::${i.toString(16)}:${(i * 31).toString(16)}`);
  out.push("Mixed-Case.Example.invalid", "under_score.invalid", "::1", "127.0.0.1");
  return out;
}
const PORTS = [9100, 9187];
const COUNTS = [2, 3, 7];

describe("shard assignment matches Prometheus' hashmod", () => {
  let prometheus: Prometheus;
  const all = hosts();
  const targets = all.flatMap((h) => PORTS.map((p) => joinHostPort(h, p)));

  beforeAll(async () => {
    const jobs = COUNTS.flatMap((count) =>
      Array.from({ length: count }, (_, index) => ({
        job_name: `shard-${count}-${index}`,
        // Never actually due while the test runs: the targets do not exist.
        scrape_interval: "1h",
        static_configs: [{ targets }],
        relabel_configs: shardRelabelConfigs({ count, index }),
      })),
    );
    prometheus = await startPrometheus({ config: { scrape_configs: jobs } });
  });
  afterAll(async () => {
    await prometheus?.stop();
  });

  it("every shard keeps exactly the hosts shardOf gives it, all exporters of a host together", async () => {
    const kept = new Map<string, Set<string>>();
    await waitFor(
      "Prometheus to apply relabeling to every job",
      async () => {
        kept.clear();
        for (const t of await prometheus.targets()) {
          const set = kept.get(t.scrapePool) ?? new Set<string>();
          set.add(t.labels.instance as string);
          kept.set(t.scrapePool, set);
        }
        const total = [...kept.values()].reduce((n, s) => n + s.size, 0);
        return total === targets.length * COUNTS.length;
      },
      20_000,
    );
    for (const count of COUNTS) {
      for (let index = 0; index < count; index++) {
        const expected = all
          .filter((h) => shardOf(h, count) === index)
          .flatMap((h) => PORTS.map((p) => joinHostPort(h, p)))
          .sort();
        expect([...(kept.get(`shard-${count}-${index}`) ?? [])].sort(), `shard ${index} of ${count}`).toEqual(
          expected,
        );
      }
    }
    // Not a degenerate split: with 2 shards both get a fair share.
    const zero = all.filter((h) => shardOf(h, 2) === 0).length;
    expect(zero).toBeGreaterThan(all.length * 0.3);
    expect(zero).toBeLessThan(all.length * 0.7);
  });
});
