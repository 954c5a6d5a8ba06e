/**
 * `sshscrape proxy --config FILE` run the way a user (or the systemd unit) runs it: the built CLI in its own
 * Node process, found ready when its /healthz answers.
 */
import type { ChildProcess } from "node:child_process";
import { readFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { parse } from "yaml";
import { type Started, start, waitFor } from "../helpers/processes.js";

export const REPO_ROOT = join(dirname(fileURLToPath(import.meta.url)), "..", "..");
/** The built CLI (`npm run build`); running it rather than the sources is what users get. */
export const CLI = join(REPO_ROOT, "bin", "run.js");

export interface RunningCli {
  url: string;
  child: ChildProcess;
  pid(): number | undefined;
  output(): string;
  stop(): Promise<void>;
}

/** Another build's bin/run.js instead of this tree's, and environment for the proxy (scale benchmarks' A/Bs). */
export interface ProxyProcessOptions {
  cli?: string;
  env?: NodeJS.ProcessEnv;
}

/** `sshscrape proxy --config LIST`, answering at the list's `proxy.listen`. */
export async function startProxyCli(
  listFile: string,
  extraArgs: string[] = [],
  nodeArgs: string[] = [],
  options: ProxyProcessOptions = {},
): Promise<RunningCli> {
  const listen = (parse(readFileSync(listFile, "utf8")) as { proxy?: { listen?: string } }).proxy?.listen;
  if (!listen) throw new Error(`${listFile}: the target list must set proxy.listen`);
  return startProxyProcess(
    ["proxy", "--config", listFile, ...extraArgs],
    `http://${listen}`,
    15_000,
    nodeArgs,
    options,
  );
}

/** The built CLI with `args` (starting with "proxy"), ready once `${url}/healthz` answers. */
export async function startProxyProcess(
  args: string[],
  url: string,
  timeoutMs = 15_000,
  /** Node's own flags, before the script (e.g. --cpu-prof for scripts/bench-scale.ts). */
  nodeArgs: string[] = [],
  options: ProxyProcessOptions = {},
): Promise<RunningCli> {
  const proc: Started = start(process.execPath, [...nodeArgs, options.cli ?? CLI, ...args], {
    cwd: REPO_ROOT,
    ...(options.env ? { env: { ...process.env, ...options.env } } : {}),
  });
  const exited = () => proc.child.exitCode !== null || proc.child.signalCode !== null;
  try {
    // Its own "listening" line first: another program on the same port would answer /healthz too.
    await waitFor(
      `sshscrape proxy on ${url}`,
      // An exited proxy will never answer: stop polling and report its output below.
      () => exited() || proc.output().includes('"msg":"listening"'),
      timeoutMs,
    );
    if (exited()) throw new Error(`exited (${proc.child.exitCode ?? proc.child.signalCode})`);
    await waitFor(
      `sshscrape proxy /healthz on ${url}`,
      async () => (await fetch(`${url}/healthz`)).ok,
      timeoutMs,
    );
  } catch (err) {
    const output = proc.output();
    await proc.stop();
    throw new Error(`sshscrape ${args.join(" ")} did not start (${(err as Error).message}):\n${output}`);
  }
  return {
    url,
    child: proc.child,
    pid: () => proc.child.pid,
    output: () => proc.output(),
    stop: () => proc.stop(),
  };
}
