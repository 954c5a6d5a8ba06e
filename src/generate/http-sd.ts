/**
 * `generate --format prometheus --discovery http`: scrape jobs that discover their targets from the proxy's
 * `GET /sd?job=NAME` (src/proxy/sd.ts) instead of listing them, so a fleet change is a proxy reload, not a
 * Prometheus config change. One job per exporter name: scheme, path and timing travel per target as
 * `__scheme__`, `__metrics_path__`, `__scrape_interval__`, `__scrape_timeout__`; only `tls_config` is a job
 * setting, so exporters of one name must agree on it.
 */
import { type LoadedConfig, type Shards, shardRelabelConfigs } from "../config/index.js";
import { GenerateError } from "./errors.js";
import { cmp, multiValueParamProblems, proxyUrl, tlsOf } from "./model.js";
import { tlsConfig } from "./prometheus.js";

export function httpSdJobs(loaded: LoadedConfig, shards: Shards | undefined): Array<Record<string, unknown>> {
  const { config, file } = loaded;
  const url = proxyUrl(config);
  const tlsByName = new Map<string, { tls: string; where: string }>();
  const problems: string[] = [];
  config.targets.forEach((t, ti) => {
    t.exporters.forEach((e, ei) => {
      const where = `targets[${ti}].exporters[${ei}]`;
      const tls = JSON.stringify(e.scheme === "https" ? (tlsOf(e) ?? null) : null);
      const seen = tlsByName.get(e.name);
      if (!seen) tlsByName.set(e.name, { tls, where });
      else if (seen.tls !== tls && e.scheme === "https")
        problems.push(
          `${where}.tls: differs from ${seen.where}, also named "${e.name}"; with --discovery http one job serves each exporter name and tls_config is per job: give them the same tls or different names`,
        );
      else if (seen.tls === "null" && tls !== "null") tlsByName.set(e.name, { tls, where });
    });
  });
  problems.push(...multiValueParamProblems(config, "http_sd discovery (the proxy's /sd)"));
  if (problems.length > 0) throw new GenerateError(file, problems);
  // Prometheus re-reads /sd every refresh_interval (default 1m); the list's scrape interval keeps a change
  // from taking longer to show than a scrape.
  const refresh = config.defaults.scrapeInterval;
  const auth = config.proxy.auth;
  return [...tlsByName.keys()].sort(cmp).map((name) => {
    const tls = JSON.parse((tlsByName.get(name) as { tls: string }).tls);
    const relabel = shardRelabelConfigs(shards);
    return {
      job_name: name,
      proxy_url: url,
      ...(tls ? { tls_config: tlsConfig(tls) } : {}),
      http_sd_configs: [
        {
          url: `${url}/sd?job=${encodeURIComponent(name)}`,
          ...(refresh ? { refresh_interval: refresh } : {}),
          // The proxy answers /sd only with proxy.auth's credentials; Prometheus must be able to read the file.
          ...(auth ? { basic_auth: { username: auth.username, password_file: auth.passwordFile } } : {}),
        },
      ],
      ...(relabel.length > 0 ? { relabel_configs: relabel } : {}),
    };
  });
}
