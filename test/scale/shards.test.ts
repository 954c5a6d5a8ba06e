/**
 * Sharding end to end: one target list of 24 hosts (two lab sshds, 12 loopback addresses each), split across
 * Debian's real Prometheus servers, each with its own `sshscrape proxy --shard i`. The union of their `up`
 * series must be every target and the intersection empty; each proxy connects to (preconnect) and allows only
 * its own shard's hosts. Then the fleet grows from 2 to 3 shards (lists rewritten, proxies get SIGHUP,
 * Prometheus reloads its config, a third pair starts): again every target is scraped by exactly one shard.
 */
import { execFileSync } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { parse, stringify } from "yaml";
import { shardOf } from "../../src/config/index.js";
import { CLI, REPO_ROOT, type RunningCli, startProxyProcess } from "../e2e/proxy-process.js";
import { type Exporter, startExporter } from "../helpers/exporter.js";
import { freePort, waitFor } from "../helpers/processes.js";
import { checkConfig, type Prometheus, startPrometheus } from "../helpers/prometheus.js";
import { viaProxy } from "../helpers/proxy.js";
import { type Sshd, startSshd } from "../helpers/sshd.js";

const INTERVAL_S = 2;
const A = Array.from({ length: 12 }, (_, i) => `127.0.1.${i + 1}`);
const B = Array.from({ length: 12 }, (_, i) => `127.0.2.${i + 1}`);

interface Shard {
  index: number;
  port: number;
  listFile: string;
  ymlFile: string;
  proxy?: RunningCli;
  prometheus?: Prometheus;
}

describe("shards: every target scraped by exactly one Prometheus, through its own proxy", () => {
  let dir: string;
  let exporter: Exporter;
  const sshds: Sshd[] = [];
  const shards: Shard[] = [];
  let all: string[];

  /** The one target list, as shard `index` of `count` deploys it (only proxy.listen and shards differ). */
  const writeShard = (s: Shard, count: number, discovery: "static" | "http") => {
    const [a, b] = sshds as [Sshd, Sshd];
    const target = (sshd: Sshd) => (host: string) => ({
      host,
      hostKeys: [sshd.hostKeyPub],
      ssh: { port: sshd.port, key: { path: sshd.clientKeyPath } },
      exporters: [{ name: "node", port: exporter.port }],
    });
    writeFileSync(
      s.listFile,
      stringify({
        shards: { count, index: s.index },
        proxy: { listen: `127.0.0.1:${s.port}`, knownHostsFile: join(dir, "known_hosts") },
        ssh: { user: a.user, key: { path: a.clientKeyPath } },
        defaults: { scrapeInterval: `${INTERVAL_S}s`, scrapeTimeout: `${INTERVAL_S}s` },
        targets: [...A.map(target(a)), ...B.map(target(b))],
      }),
    );
    const yml = execFileSync(
      process.execPath,
      [CLI, "generate", s.listFile, "--format", "prometheus", "--discovery", discovery],
      { cwd: REPO_ROOT },
    ).toString();
    writeFileSync(s.ymlFile, yml);
    checkConfig(s.ymlFile);
    return parse(yml) as Record<string, unknown>;
  };

  const startShard = async (s: Shard, count: number, discovery: "static" | "http") => {
    const config = writeShard(s, count, discovery);
    s.proxy = await startProxyProcess(["proxy", "--config", s.listFile], `http://127.0.0.1:${s.port}`);
    s.prometheus = await startPrometheus({ config });
  };

  const newShard = async (index: number): Promise<Shard> => {
    const s = {
      index,
      port: await freePort(),
      listFile: join(dir, `targets-${index}.yaml`),
      ymlFile: join(dir, `prometheus-${index}.yml`),
    };
    shards.push(s);
    return s;
  };

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), "sshscrape-shards-"));
    writeFileSync(join(dir, "known_hosts"), "");
    exporter = await startExporter();
    const opts = { keyOptions: `restrict,port-forwarding,permitopen="127.0.0.1:${exporter.port}"` };
    sshds.push(await startSshd({ ...opts, addresses: A }), await startSshd({ ...opts, addresses: B }));
    all = [...A, ...B].map((h) => `${h}:${exporter.port}`).sort();
    for (const i of [0, 1]) await startShard(await newShard(i), 2, "static");
  }, 90_000);

  afterAll(async () => {
    for (const s of shards) {
      await s.prometheus?.stop();
      await s.proxy?.stop();
    }
    for (const sshd of sshds) {
      await sshd.stop();
      rmSync(sshd.dir, { recursive: true, force: true });
    }
    await exporter?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  /** Each shard's current `up == 1` instances, once every shard's active targets are all up. */
  const scrapedByShard = async (count: number): Promise<string[][]> => {
    let seen: string[][] = [];
    await waitFor(
      `every target up in exactly one of ${count} shards`,
      async () => {
        seen = [];
        for (const s of shards.slice(0, count)) {
          const up = await (s.prometheus as Prometheus).query("up == 1");
          seen.push(up.map((x) => x.metric.instance as string).sort());
        }
        const active = await Promise.all(
          shards.slice(0, count).map((s) => (s.prometheus as Prometheus).targets()),
        );
        return (
          seen.flat().length === all.length &&
          active.flat().length === all.length &&
          active.flat().every((t) => t.health === "up")
        );
      },
      40_000,
    ).catch(async (e) => {
      const active = await Promise.all(
        shards.slice(0, count).map((s) => (s.prometheus as Prometheus).targets()),
      );
      const bad = active.map((ts) =>
        ts.filter((t) => t.health !== "up").map((t) => `${t.labels.instance} ${t.health} ${t.lastError}`),
      );
      throw new Error(`${(e as Error).message}: up ${JSON.stringify(seen)}; not up ${JSON.stringify(bad)}`);
    });
    return seen;
  };

  const expectPartition = (seen: string[][], count: number) => {
    expect(seen.flat().sort(), "union of up").toEqual(all);
    expect(new Set(seen.flat()).size, "no target in two shards").toBe(all.length);
    seen.forEach((instances, index) => {
      expect(instances, `shard ${index} of ${count}`).toEqual(
        all.filter((t) => shardOf(t.replace(/:\d+$/, ""), count) === index),
      );
    });
  };

  it("two shards: union of up is every target, intersection empty", async () => {
    const seen = await scrapedByShard(2);
    expectPartition(seen, 2);
    expect(seen[0]?.length).toBeGreaterThan(4);
    expect(seen[1]?.length).toBeGreaterThan(4);
  }, 60_000);

  it("each proxy connected only to its own shard's hosts and refuses the others' targets", async () => {
    for (const s of shards) {
      const state = (await (await fetch(`http://127.0.0.1:${s.port}/targets`)).json()) as {
        hosts: Array<{ host: string; state: string }>;
      };
      const hosts = state.hosts.map((h) => /@([\d.]+):/.exec(h.host)?.[1]).sort();
      expect(hosts).toEqual([...A, ...B].filter((h) => shardOf(h, 2) === s.index).sort());
      const other = [...A, ...B].find((h) => shardOf(h, 2) !== s.index);
      const res = await viaProxy(`http://127.0.0.1:${s.port}`, `http://${other}:${exporter.port}/metrics`);
      expect(res.status).toBe(403);
    }
  });

  it("2 → 3 shards (now with http_sd): targets move, none scraped twice or missed", async () => {
    for (const s of shards) {
      const config = writeShard(s, 3, "http");
      process.kill(s.proxy?.pid() as number, "SIGHUP");
      // Prometheus re-reads prometheus.yml on SIGHUP, as `systemctl reload prometheus` does.
      await waitFor("proxy reloaded", async () => {
        const sd = (await (await fetch(`http://127.0.0.1:${s.port}/sd`)).json()) as Array<{
          targets: string[];
        }>;
        return (
          sd.flatMap((g) => g.targets).length ===
          all.filter((t) => shardOf(t.replace(/:\d+$/, ""), 3) === s.index).length
        );
      });
      writeFileSync((s.prometheus as Prometheus).configPath, stringify(config));
      process.kill(s.prometheus?.pid() as number, "SIGHUP");
    }
    await startShard(await newShard(2), 3, "http");
    const seen = await scrapedByShard(3);
    expectPartition(seen, 3);
    // Not only the latest sample: over the next two intervals every target has samples in exactly one shard,
    // all of them successful (nothing scraped twice, nothing left out or refused).
    const windowS = 2 * INTERVAL_S;
    await new Promise((r) => setTimeout(r, windowS * 1000));
    const recent = await Promise.all(
      shards.map((s) => (s.prometheus as Prometheus).queryMatrix(`up[${windowS}s]`)),
    );
    const owners = new Map<string, number>();
    for (const series of recent)
      for (const x of series) {
        owners.set(x.metric.instance as string, (owners.get(x.metric.instance as string) ?? 0) + 1);
        expect(
          x.values.every((v) => v.value === 1),
          `${x.metric.instance} up`,
        ).toBe(true);
      }
    expect([...owners.keys()].sort()).toEqual(all);
    expect([...owners.values()].every((n) => n === 1)).toBe(true);
    // The old proxies closed their connections to the hosts that moved away.
    for (const s of shards) {
      const state = (await (await fetch(`http://127.0.0.1:${s.port}/targets`)).json()) as {
        hosts: Array<{ host: string; state: string }>;
      };
      const connected = state.hosts
        .filter((h) => h.state === "connected")
        .map((h) => /@([\d.]+):/.exec(h.host)?.[1]);
      expect(connected.sort(), `proxy ${s.index}`).toEqual(
        [...A, ...B].filter((h) => shardOf(h, 3) === s.index).sort(),
      );
    }
  }, 90_000);
});
