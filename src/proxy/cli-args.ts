/**
 * `sshscrape proxy`'s flags, defined once: the oclif command (cli/commands/proxy.ts) builds its flags from
 * PROXY_FLAGS, and bin/run.js parses a plain command line with the same table without loading oclif
 * (parseProxyArgv). Then the flags become a ProxyRuntime (the command itself stays a thin wrapper).
 */
import { parseArgs } from "node:util";
import { parseDurationFlag } from "../config/duration.js";
import type { Config } from "../config/schema.js";
import { withShardIndex } from "../config/shard.js";
import { UsageError } from "../errors.js";
import { applyOverrides, type ProxyRuntime, settingsFromConfig, settingsFromFlags } from "./settings.js";

interface FlagBase {
  description: string;
  /** One-letter alias (`-v`). */
  char?: string;
  /** Flags that must be given with this one (oclif's dependsOn). */
  dependsOn?: readonly string[];
}
export type ProxyFlagSpec =
  | (FlagBase & { type: "string" })
  | (FlagBase & { type: "boolean" })
  | (FlagBase & { type: "integer"; min?: number; max?: number })
  | (FlagBase & { type: "option"; options: readonly string[] });

export const LOG_LEVELS = ["trace", "debug", "info", "warn", "error", "fatal"] as const;

export const PROXY_FLAGS = {
  config: { type: "string", description: "Target list (YAML or JSON), the same file `generate` reads." },
  listen: {
    type: "string",
    description: "Listen address HOST:PORT (overrides proxy.listen; default 127.0.0.1:8888).",
  },
  "key-file": {
    type: "string",
    description: "SSH private key (overrides ssh.key and $CREDENTIALS_DIRECTORY/ssh-key).",
  },
  "known-hosts-file": { type: "string", description: "known_hosts file (overrides proxy.knownHostsFile)." },
  shard: {
    type: "integer",
    description: "Which shard of the list's `shards` this proxy serves (overrides shards.index).",
    min: 0,
    dependsOn: ["config"],
  },
  "allow-non-loopback": {
    type: "boolean",
    description: "Allow a non-loopback listen address without proxy authentication.",
  },
  "log-level": { type: "option", options: LOG_LEVELS, description: "Log level (JSON logs on stdout)." },
  "proxy.listen-addr": { type: "string", description: "sshified: listen address (same as --listen)." },
  "ssh.user": { type: "string", description: "sshified: SSH user for every host." },
  "ssh.key-file": { type: "string", description: "sshified: SSH private key (same as --key-file)." },
  "ssh.known-hosts-file": { type: "string", description: "sshified: known_hosts file." },
  "ssh.port": { type: "integer", description: "sshified: SSH port for every host.", min: 1, max: 65535 },
  timeout: {
    type: "string",
    description: "sshified: upper bound per request (seconds, or a duration like 10s).",
  },
  "metrics.listen-addr": { type: "string", description: "sshified: extra listener serving only /metrics." },
  verbose: {
    type: "boolean",
    char: "v",
    description: "sshified: debug logging (same as --log-level debug).",
  },
} as const satisfies Record<string, ProxyFlagSpec>;

type FlagValue<S> = S extends { type: "boolean" }
  ? boolean
  : S extends { type: "integer" }
    ? number | undefined
    : S extends { type: "option"; options: readonly (infer O)[] }
      ? O | undefined
      : string | undefined;

/** The parsed flags, as oclif gives them (booleans false when absent). */
export type ProxyFlags = { -readonly [K in keyof typeof PROXY_FLAGS]: FlagValue<(typeof PROXY_FLAGS)[K]> };

/**
 * The flags of a plain, valid command line, or `undefined` for anything else: unknown or repeated flags,
 * arguments, `--help`, a value oclif would refuse (not an integer, out of range, not an option, a missing
 * dependsOn), or an ambiguous one (empty, or one that looks like a flag). bin/run.js then hands the command
 * line to oclif, which prints help or its usual one-line error, so there is one set of messages.
 */
export function parseProxyArgv(argv: readonly string[]): ProxyFlags | undefined {
  const options: Record<string, { type: "string" | "boolean"; short?: string }> = {};
  for (const [name, spec] of Object.entries(PROXY_FLAGS as Record<string, ProxyFlagSpec>))
    options[name] = {
      type: spec.type === "boolean" ? "boolean" : "string",
      ...(spec.char ? { short: spec.char } : {}),
    };
  let parsed: {
    values: Record<string, string | boolean | undefined>;
    tokens: Array<{ kind: string; name?: string }>;
  };
  try {
    parsed = parseArgs({ args: [...argv], options, strict: true, allowPositionals: false, tokens: true });
  } catch {
    return undefined;
  }
  const seen = new Set<string | undefined>();
  for (const token of parsed.tokens) {
    if (token.kind !== "option") return undefined;
    if (seen.has(token.name)) return undefined;
    seen.add(token.name);
  }
  const flags: Record<string, string | number | boolean | undefined> = {};
  for (const [name, spec] of Object.entries(PROXY_FLAGS as Record<string, ProxyFlagSpec>)) {
    const raw = parsed.values[name];
    if (spec.type === "boolean") {
      flags[name] = raw === true;
      continue;
    }
    if (raw === undefined) continue;
    if (typeof raw !== "string" || raw === "" || raw.startsWith("-")) return undefined;
    if (spec.dependsOn?.some((other) => parsed.values[other] === undefined)) return undefined;
    if (spec.type === "integer") {
      if (!/^\d+$/.test(raw)) return undefined;
      const n = Number(raw);
      if (
        !Number.isSafeInteger(n) ||
        (spec.min !== undefined && n < spec.min) ||
        (spec.max !== undefined && n > spec.max)
      )
        return undefined;
      flags[name] = n;
    } else if (spec.type === "option") {
      if (!spec.options.includes(raw)) return undefined;
      flags[name] = raw;
    } else flags[name] = raw;
  }
  return flags as ProxyFlags;
}

/** The log level the flags ask for. */
export function logLevelOf(flags: ProxyFlags): string {
  return flags["log-level"] ?? (flags.verbose ? "debug" : "info");
}

/** The flags as ProxyArgs (sshified's spellings are aliases of ours; ours win when both are given). */
export function argsFromFlags(flags: ProxyFlags): ProxyArgs {
  return {
    config: flags.config,
    listen: flags.listen ?? flags["proxy.listen-addr"],
    keyFile: flags["key-file"] ?? flags["ssh.key-file"],
    knownHostsFile: flags["known-hosts-file"] ?? flags["ssh.known-hosts-file"],
    allowNonLoopback: flags["allow-non-loopback"],
    user: flags["ssh.user"],
    port: flags["ssh.port"],
    timeout: flags.timeout,
    metricsListen: flags["metrics.listen-addr"],
    shard: flags.shard,
  };
}

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
