/**
 * `generate --format prometheus --rules`: the package's rules file (rules/sshscrape.rules.yml, docs/alerting.md)
 * written beside prometheus.yml, and the job scraping the proxy's own /metrics that the rules read.
 */
import { readFileSync } from "node:fs";
import { join } from "node:path";
import type { Config } from "../config/index.js";
import { packageRoot } from "../version.js";
import { GenerateError } from "./errors.js";
import { type Job, proxyUrl } from "./model.js";

export const RULES_FILE_NAME = "sshscrape.rules.yml";
/** The rules select the proxy's own series by this job name (`up{job="sshscrape"}`). */
export const PROXY_JOB_NAME = "sshscrape";

export interface AlertRules {
  /** rule_files entry, relative to prometheus.yml. */
  ruleFile: string;
  /** The job for the proxy's own /metrics. */
  job: {
    job_name: string;
    static_configs: Array<{ targets: string[] }>;
    basic_auth?: { username: string; password_file: string };
  };
}

export function alertRules(config: Config, jobs: Job[], listFile: string): AlertRules {
  if (jobs.some((j) => j.jobName === PROXY_JOB_NAME))
    throw new GenerateError(listFile, [
      `targets[].exporters[].name: an exporter is named "${PROXY_JOB_NAME}", the job --rules adds for the proxy's own metrics; rename the exporter`,
    ]);
  const metrics = proxyUrl({
    ...config,
    proxy: { ...config.proxy, listen: config.proxy.metricsListen ?? config.proxy.listen },
  });
  // With proxy.auth, /metrics wants the same credentials (Authorization: Basic); Prometheus reads the file.
  const auth = config.proxy.auth;
  return {
    ruleFile: RULES_FILE_NAME,
    job: {
      job_name: PROXY_JOB_NAME,
      static_configs: [{ targets: [new URL(metrics).host] }],
      ...(auth ? { basic_auth: { username: auth.username, password_file: auth.passwordFile } } : {}),
    },
  };
}

/** The rules file as shipped in the package. */
export function shippedRules(): string {
  return readFileSync(join(packageRoot(), "rules", RULES_FILE_NAME), "utf8");
}
