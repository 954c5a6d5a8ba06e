/**
 * The lab of scripts/bench-ab.ts, gc-probe.ts and c1-probe.ts: one sshd (its host key in a known_hosts file),
 * one exporter serving a metrics body of a given size, and one `sshscrape proxy` process per `--proxy` spec
 * (scripts/proxy-spec.ts), each on a free port and listening before the call returns.
 */
import { openSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { metricsBody, startExporter } from "../test/helpers/exporter.js";
import { freePort, type Started, start, waitFor } from "../test/helpers/processes.js";
import { startSshd } from "../test/helpers/sshd.js";
import { type ProxySpec, writeSpecConfig } from "./proxy-spec.js";

export interface Lab {
  sshd: Awaited<ReturnType<typeof startSshd>>;
  exporter: Awaited<ReturnType<typeof startExporter>>;
  knownHosts: string;
}

export async function startLab(bodyBytes: number): Promise<Lab> {
  const sshd = await startSshd({ highLimits: true });
  const exporter = await startExporter({ body: metricsBody(bodyBytes) });
  const knownHosts = join(sshd.dir, "known_hosts");
  writeFileSync(knownHosts, `${sshd.knownHostsLine()}\n`);
  return { sshd, exporter, knownHosts };
}

export interface SpecProxy {
  proc: Started;
  port: number;
  /** The descriptor of `logFile`, when the output goes there (the caller closes it). */
  logFd?: number;
}

/**
 * Starts `spec`'s proxy against the lab (its target list named after `prefix`) and waits until it listens.
 * With `logFile`, its output goes to that file instead of the in-memory buffer of `Started.output()`.
 */
export async function startSpecProxy(
  lab: Lab,
  spec: ProxySpec,
  prefix: string,
  logFile?: string,
): Promise<SpecProxy> {
  const config = writeSpecConfig(
    { sshd: lab.sshd, knownHosts: lab.knownHosts, exporterPort: lab.exporter.port },
    spec,
    prefix,
  );
  const port = await freePort();
  const logFd = logFile === undefined ? undefined : openSync(logFile, "w");
  const proc = start(
    process.execPath,
    [...spec.nodeArgs, spec.bin, "proxy", "--config", config, "--listen", `127.0.0.1:${port}`],
    {
      env: { ...process.env, ...spec.env },
      ...(logFd === undefined ? {} : { stdio: ["ignore", logFd, logFd] as const }),
    },
  );
  const output = () => (logFile === undefined ? proc.output() : readFileSync(logFile, "utf8"));
  await waitFor(`${spec.name} to listen\n${output()}`, () => output().includes('"msg":"listening"'), 20_000);
  return { proc, port, logFd };
}
