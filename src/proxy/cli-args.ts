/** Turns `sshscrape proxy` flags into a ProxyRuntime (the command itself stays a thin wrapper). */
import { type Config, parseDurationFlag, withShardIndex } from "../config/index.js";
import { UsageError } from "../errors.js";
import { applyOverrides, type ProxyRuntime, settingsFromConfig, settingsFromFlags } from "./settings.js";

export interface ProxyArgs {
  config?: string;
  listen?: string;
  keyFile?: string;
  knownHostsFile?: string;
  allowNonLoopback?: boolean;
  /** sshified-only flags. */
  user?: string;
  port?: number;
  timeout?: string;
  metricsListen?: string;
  /** Overrides the list's shards.index. */
  shard?: number;
}

/** sshified's --timeout is a Go duration ("5s"); a bare number is read as seconds, as by every command. */
export function parseTimeoutFlag(text: string): number {
  try {
    return parseDurationFlag(text, "--timeout");
  } catch (err) {
    throw new UsageError((err as Error).message);
  }
}

export function runtimeFromArgs(
  args: ProxyArgs,
  load: (file: string) => { file: string; config: Config },
  env: NodeJS.ProcessEnv = process.env,
): ProxyRuntime {
  const timeoutMs = args.timeout === undefined ? undefined : parseTimeoutFlag(args.timeout);
  let runtime: ProxyRuntime;
  if (args.config) {
    for (const [flag, value] of [
      ["--ssh.user", args.user],
      ["--ssh.port", args.port],
    ] as const)
      if (value !== undefined)
        throw new UsageError(
          `${flag} applies without --config only; set ssh.user / ssh.port in ${args.config}`,
        );
    const loaded = load(args.config);
    runtime = settingsFromConfig(
      args.shard === undefined
        ? loaded
        : { ...loaded, config: withShardIndex(loaded, args.shard, "--shard") },
      env,
    );
  } else {
    runtime = settingsFromFlags(
      {
        listen: args.listen,
        user: args.user,
        keyFile: args.keyFile,
        knownHostsFile: args.knownHostsFile,
        port: args.port,
        metricsListen: args.metricsListen,
      },
      env,
    );
  }
  runtime = applyOverrides(runtime, {
    listen: args.listen,
    keyFile: args.keyFile,
    knownHostsFile: args.knownHostsFile,
    allowNonLoopback: args.allowNonLoopback,
    metricsListen: args.metricsListen,
  });
  if (timeoutMs !== undefined)
    runtime = { ...runtime, timeouts: { ...runtime.timeouts, request: timeoutMs } };
  return runtime;
}
