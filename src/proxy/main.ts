/**
 * `sshscrape proxy` itself, for both ways in: bin/run.js calls runProxyCli for a plain command line without
 * loading oclif (its ~5 MB and ~90 ms of start-up buy nothing for a proxy that runs for months;
 * docs/benchmarks.md, "Start-up memory"), and the oclif command (cli/commands/proxy.ts) calls runProxy after
 * parsing the same flags (PROXY_FLAGS) itself.
 */
import { pino } from "pino";
import { loadConfigIsolated, loadConfigIsolatedAsync } from "../config/load-isolated.js";
import { isSshscrapeError } from "../errors.js";
import { argsFromFlags, logLevelOf, type ProxyFlags, parseProxyArgv, runtimeFromArgs } from "./cli-args.js";
import { startProxy } from "./index.js";

export interface ProxyResult {
  url: string;
  stopped: true;
}

/** Runs the proxy until it stops (SIGTERM, SIGINT); throws the typed errors of a failed start. */
export async function runProxy(flags: ProxyFlags): Promise<ProxyResult> {
  const logger = pino({ name: "sshscrape", level: logLevelOf(flags) });
  const args = argsFromFlags(flags);
  // The target list is read and validated in a child process: the proxy never loads the schema (zod).
  const runtime = runtimeFromArgs(args, loadConfigIsolated);
  const { config } = args;
  const running = await startProxy(runtime, {
    logger,
    installSignalHandlers: true,
    // SIGHUP re-reads the target list too: added and removed targets take effect at once.
    reloadRuntime: config
      ? async () => {
          const loaded = await loadConfigIsolatedAsync(config);
          return runtimeFromArgs(args, () => loaded);
        }
      : undefined,
  });
  await running.closed;
  logger.flush();
  return { url: running.url, stopped: true };
}

/** The problem line of a failed start, as the oclif command prints it too. */
export function startFailure(message: string): string {
  return `sshscrape proxy: ${message}`;
}

/**
 * `sshscrape proxy ARGV` without oclif. Returns false, having done nothing, when ARGV is not a plain valid
 * command line (parseProxyArgv): the caller hands it to oclif for help or its usage error. Otherwise runs the
 * proxy until it stops; a typed start-up error is one line on stderr and its exit code, as from the command.
 */
export async function runProxyCli(argv: readonly string[]): Promise<boolean> {
  const flags = parseProxyArgv(argv);
  if (!flags) return false;
  try {
    await runProxy(flags);
  } catch (err) {
    if (!isSshscrapeError(err)) throw err;
    process.stderr.write(`${startFailure(err.message)}\n`);
    process.exitCode = err.exitCode;
  }
  return true;
}
