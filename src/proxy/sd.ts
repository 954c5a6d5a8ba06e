/**
 * Prometheus HTTP service discovery (`http_sd_configs`) served by the proxy: `GET /sd` answers the target
 * groups of the loaded target list, `GET /sd?job=NAME` only those of exporters named NAME. The format is
 * Prometheus' (https://prometheus.io/docs/prometheus/2.42/http_sd/): 200, `application/json`, a JSON array of
 * `{ targets, labels }`, the full list on every request (Prometheus replaces what it had with each answer).
 *
 * Each group carries the labels Prometheus reads before the job's own defaults (scrape/target.go,
 * PopulateLabels): `__scheme__`, `__metrics_path__`, and `__scrape_interval__`/`__scrape_timeout__` where the
 * list sets them; `__param_<name>` for each of the exporter's `params` (a label holds one string, so only the
 * first value: `generate --discovery http` refuses multi-valued params, docs/scaling.md); and the merged
 * labels (defaults < target < exporter). `job`: a job that asks for one
 * exporter (`?job=NAME`) names its targets itself (`job_name`, as with static configs, whatever prefix a
 * NixOS module gives it); the whole list (no `?job=`) sets `job` = the exporter's name, so one job reading it
 * keeps the names apart. A `job` label in the list wins either way, as in the generated static configs.
 * Targets are written `host:port` with the host as the list writes it, so a `hashmod` over `__address__` sees
 * the same string as with static configs (src/config/shard.ts).
 */
import type { IncomingMessage, ServerResponse } from "node:http";
import { joinHostPort } from "../config/host.js";
import { paramLabels } from "../config/params.js";
import type { Config } from "../config/schema.js";
import { inShard, type Shards } from "../config/shard.js";

export interface TargetGroup {
  targets: string[];
  labels: Record<string, string>;
}

/** A group and the exporter name it was made from (what `?job=` selects; a user label may rename `job`). */
export interface NamedGroup {
  exporter: string;
  group: TargetGroup;
}

const byName = (a: string, b: string) => (a < b ? -1 : a > b ? 1 : 0);

function sorted(labels: Record<string, string>): Record<string, string> {
  return Object.fromEntries(Object.entries(labels).sort(([a], [b]) => byName(a, b)));
}

/**
 * The target groups of `config` (only shard `shards.index`'s hosts when sharded): one group per distinct
 * label set, targets sorted, groups in a stable order so two answers for one list are byte-identical.
 */
export function targetGroups(config: Config, shards: Shards | undefined = config.shards): NamedGroup[] {
  const groups = new Map<string, NamedGroup>();
  for (const t of config.targets) {
    if (!inShard(t.host, shards)) continue;
    for (const e of t.exporters) {
      const interval = e.scrapeInterval ?? config.defaults.scrapeInterval;
      const timeout = e.scrapeTimeout ?? config.defaults.scrapeTimeout;
      const labels = sorted({
        ...config.defaults.labels,
        ...t.labels,
        ...e.labels,
        __scheme__: e.scheme,
        __metrics_path__: e.metricsPath,
        ...paramLabels(e.params),
        ...(interval ? { __scrape_interval__: interval } : {}),
        ...(timeout ? { __scrape_timeout__: timeout } : {}),
      });
      const key = JSON.stringify([e.name, labels]);
      const named = groups.get(key) ?? { exporter: e.name, group: { targets: [], labels } };
      named.group.targets.push(joinHostPort(t.host, e.port));
      groups.set(key, named);
    }
  }
  return [...groups]
    .sort(([a], [b]) => byName(a, b))
    .map(([, named]) => {
      named.group.targets.sort(byName);
      return named;
    });
}

/** The groups of exporters named one of `jobs` (every group, with `job` labels, when `jobs` is empty). */
export function filterGroups(groups: NamedGroup[], jobs: string[]): TargetGroup[] {
  if (jobs.length === 0)
    return groups.map(({ exporter, group }) =>
      "job" in group.labels ? group : { ...group, labels: sorted({ ...group.labels, job: exporter }) },
    );
  const wanted = new Set(jobs);
  return groups.filter((g) => wanted.has(g.exporter)).map((g) => g.group);
}

/**
 * Answers `GET|HEAD /sd[?job=NAME…]` with `groups` (read per request, so a reload shows at once). Method and
 * proxy.auth are checked by the caller (admin.ts), as for the other admin endpoints.
 */
export function serveSd(req: IncomingMessage, res: ServerResponse, groups: NamedGroup[]): void {
  const jobs = new URL(req.url ?? "/sd", "http://sd").searchParams.getAll("job");
  const body = `${JSON.stringify(filterGroups(groups, jobs))}\n`;
  res.writeHead(200, {
    "content-type": "application/json",
    "content-length": Buffer.byteLength(body),
    "cache-control": "no-store",
  });
  res.end(req.method === "HEAD" ? undefined : body);
}
