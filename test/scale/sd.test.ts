/**
 * GET /sd on a running proxy (in-process, no SSH needed: nothing is proxied here): the exact http_sd shape,
 * the `job` filter, the shard filter, proxy.auth, and a reload that changes the list.
 */
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { stringify } from "yaml";
import { loadConfig, shardOf } from "../../src/config/index.js";
import { type RunningProxy, settingsFromConfig, startProxy } from "../../src/proxy/index.js";
import { memoryLogger } from "../helpers/proxy.js";

const HOSTS = Array.from({ length: 12 }, (_, i) => `db${i}.example.org`);

interface ListOptions {
  hosts?: string[];
  auth?: boolean;
  shards?: { count: number; index: number };
  /** A `job` label of the user's own on db1's target. */
  jobLabel?: boolean;
}

function list(dir: string, o: ListOptions) {
  const key = join(dir, "id_ed25519");
  // Never read: preconnect is off and nothing is proxied; the key store only needs a parsable key.
  return {
    ...(o.shards ? { shards: o.shards } : {}),
    proxy: {
      listen: "127.0.0.1:8888", // replaced by port 0 below
      preconnect: false,
      knownHostsFile: join(dir, "known_hosts"),
      ...(o.auth ? { auth: { username: "prom", passwordFile: join(dir, "password") } } : {}),
    },
    ssh: { key: { path: key } },
    defaults: { scrapeInterval: "15s", labels: { env: "prod" } },
    targets: (o.hosts ?? HOSTS).map((host, i) => ({
      host,
      labels: { rack: `r${i % 2}`, ...(o.jobLabel && i === 1 ? { job: "custom" } : {}) },
      exporters: [
        { name: "node", port: 9100 },
        ...(i === 0
          ? [{ name: "postgres", port: 9187, scheme: "https", metricsPath: "/pg", labels: { role: "db" } }]
          : []),
      ],
    })),
  };
}

describe("GET /sd", () => {
  let dir: string;
  const running: RunningProxy[] = [];

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), "sshscrape-sd-"));
    const { execFileSync } = await import("node:child_process");
    execFileSync("ssh-keygen", ["-q", "-t", "ed25519", "-N", "", "-f", join(dir, "id_ed25519")]);
    writeFileSync(join(dir, "known_hosts"), "");
    writeFileSync(join(dir, "password"), "s3cret\n");
  });
  afterAll(async () => {
    for (const p of running) await p.close(0);
    rmSync(dir, { recursive: true, force: true });
  });

  const start = async (o: Parameters<typeof list>[1], file = join(dir, `list-${running.length}.yaml`)) => {
    writeFileSync(file, stringify(list(dir, o)));
    const { logger } = memoryLogger("warn");
    const runtime = () => ({
      ...settingsFromConfig(loadConfig(file)),
      listen: { host: "127.0.0.1", port: 0 },
    });
    const proxy = await startProxy(runtime(), { logger, reloadRuntime: runtime });
    running.push(proxy);
    return { proxy, file };
  };

  it("answers 200 application/json with Prometheus' target groups: targets and string labels only", async () => {
    const { proxy } = await start({});
    const res = await fetch(`${proxy.url}/sd`);
    expect(res.status).toBe(200);
    expect(res.headers.get("content-type")).toBe("application/json");
    const groups = (await res.json()) as Array<Record<string, unknown>>;
    for (const g of groups) {
      expect(Object.keys(g).sort()).toEqual(["labels", "targets"]);
      for (const v of Object.values(g.labels as object)) expect(typeof v).toBe("string");
      for (const t of g.targets as string[]) expect(t).toMatch(/^[a-z0-9.]+:\d+$/);
    }
    const node = groups.filter((g) => (g.labels as Record<string, string>).job === "node");
    expect(node.map((g) => g.labels)).toEqual(
      ["r0", "r1"].map((rack) => ({
        __metrics_path__: "/metrics",
        __scheme__: "http",
        __scrape_interval__: "15s",
        env: "prod",
        job: "node",
        rack,
      })),
    );
    expect(node.flatMap((g) => g.targets as string[]).sort()).toEqual(HOSTS.map((h) => `${h}:9100`).sort());
    expect(groups.find((g) => (g.labels as Record<string, string>).job === "postgres")).toEqual({
      targets: ["db0.example.org:9187"],
      labels: {
        __metrics_path__: "/pg",
        __scheme__: "https",
        __scrape_interval__: "15s",
        env: "prod",
        job: "postgres",
        rack: "r0",
        role: "db",
      },
    });
  });

  it("?job= keeps one exporter's groups; an unknown job is an empty list, not an error", async () => {
    const { proxy } = await start({});
    type Groups = Array<{ targets: string[]; labels: Record<string, string> }>;
    // Asked for one exporter, the groups leave `job` to the scraping job's job_name, as static configs do.
    const pg = (await (await fetch(`${proxy.url}/sd?job=postgres`)).json()) as Groups;
    expect(pg).toEqual([
      {
        targets: ["db0.example.org:9187"],
        labels: {
          __metrics_path__: "/pg",
          __scheme__: "https",
          __scrape_interval__: "15s",
          env: "prod",
          rack: "r0",
          role: "db",
        },
      },
    ]);
    const all = (await (await fetch(`${proxy.url}/sd`)).json()) as Groups;
    const both = (await (await fetch(`${proxy.url}/sd?job=postgres&job=node`)).json()) as Groups;
    expect(both).toEqual(
      all.map((g) => ({
        ...g,
        labels: Object.fromEntries(Object.entries(g.labels).filter(([k]) => k !== "job")),
      })),
    );
    const { proxy: own } = await start({ jobLabel: true });
    const custom = (await (await fetch(`${own.url}/sd?job=node`)).json()) as Groups;
    expect(custom.filter((g) => g.labels.job === "custom").flatMap((g) => g.targets)).toEqual([
      "db1.example.org:9100",
    ]);
    const none = await fetch(`${proxy.url}/sd?job=nope`);
    expect(none.status).toBe(200);
    expect(await none.json()).toEqual([]);
    expect((await fetch(`${proxy.url}/sd`, { method: "POST" })).status).toBe(405);
    const head = await fetch(`${proxy.url}/sd`, { method: "HEAD" });
    expect(head.status).toBe(200);
    expect(await head.text()).toBe("");
  });

  it("with proxy.auth, answers 401 without credentials and 200 with Authorization or Proxy-Authorization", async () => {
    const { proxy } = await start({ auth: true });
    const basic = (u: string, p: string) => `Basic ${Buffer.from(`${u}:${p}`).toString("base64")}`;
    const none = await fetch(`${proxy.url}/sd`);
    expect(none.status).toBe(401);
    expect(none.headers.get("www-authenticate")).toBe('Basic realm="sshscrape"');
    expect(await none.text()).not.toContain("db0");
    expect(
      (await fetch(`${proxy.url}/sd`, { headers: { authorization: basic("prom", "wrong") } })).status,
    ).toBe(401);
    expect(
      (await fetch(`${proxy.url}/sd`, { headers: { authorization: basic("prom", "s3cret") } })).status,
    ).toBe(200);
    const viaProxyHeader = await fetch(`${proxy.url}/sd`, {
      headers: { "proxy-authorization": basic("prom", "s3cret") },
    });
    expect(viaProxyHeader.status).toBe(200);
  });

  it("a sharded proxy discovers only its own shard's hosts", async () => {
    const seen: string[][] = [];
    for (const index of [0, 1, 2]) {
      const { proxy } = await start({ shards: { count: 3, index } });
      const groups = (await (await fetch(`${proxy.url}/sd?job=node`)).json()) as Array<{ targets: string[] }>;
      const hosts = groups.flatMap((g) => g.targets).map((t) => t.replace(/:\d+$/, ""));
      expect(hosts.sort()).toEqual(HOSTS.filter((h) => shardOf(h, 3) === index).sort());
      seen.push(hosts);
    }
    expect(seen.flat().sort()).toEqual([...HOSTS].sort());
  });

  it("reflects a reload of the list at once", async () => {
    const { proxy, file } = await start({});
    writeFileSync(file, stringify(list(dir, { hosts: ["new1.example.org", ...HOSTS.slice(1)] })));
    await proxy.reload();
    const groups = (await (await fetch(`${proxy.url}/sd`)).json()) as Array<{ targets: string[] }>;
    const targets = groups.flatMap((g) => g.targets);
    expect(targets).toContain("new1.example.org:9100");
    expect(targets).not.toContain("db0.example.org:9100");
    expect(targets).not.toContain("db0.example.org:9187");
    // A list that no longer validates is refused as a whole: the proxy keeps serving the last good one.
    writeFileSync(file, "targets: []\n");
    await expect(proxy.reload()).rejects.toThrow(/targets/);
    const after = (await (await fetch(`${proxy.url}/sd`)).json()) as Array<{ targets: string[] }>;
    expect(after.flatMap((g) => g.targets)).toEqual(targets);
  });
});
