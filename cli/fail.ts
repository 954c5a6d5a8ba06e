import { type Command, Errors } from "@oclif/core";
import { parseDurationFlag } from "../src/config/index.js";
import { isSshscrapeError, UsageError } from "../src/errors.js";

/**
 * Reports an expected failure the way scripts and people read it: each problem on its own unwrapped line
 * (`FILE: targets[3].exporters[0].port: expected 1–65535`), exit 2 for usage/validation, 1 at run time.
 * With --json, oclif's JSON error object instead. Anything else is a bug and propagates as one.
 */
/**
 * One line to stderr. Straight to process.stderr rather than oclif's logToStderr (console.error), which
 * test runners intercept, so what a user sees is what the CLI tests capture.
 */
export function stderrLine(text: string): void {
  process.stderr.write(`${text}\n`);
}

export function fail(command: Command & { jsonEnabled(): boolean }, err: unknown): never {
  if (!isSshscrapeError(err)) throw err;
  if (command.jsonEnabled()) {
    // oclif's JSON error path exits with process.exitCode (or 1), not the error's own exit code.
    process.exitCode = err.exitCode;
    command.error(err.message, { exit: err.exitCode, code: err.code });
  }
  for (const line of err.message.split("\n")) stderrLine(line);
  throw printed(err.message, err.exitCode, err.code);
}

/**
 * The error that ends the command once its lines are on stderr: oclif exits with `exit` and prints nothing
 * more (skipOclifErrorHandling), while programmatic callers (@oclif/test's runCommand) still get the message.
 */
export function printed(message: string, exit: number, code: string): Errors.CLIError {
  const e = new Errors.CLIError(message, { exit, code });
  e.skipOclifErrorHandling = true;
  return e;
}

/** A duration flag, read the same way by every command (`10s`, `1m30s`, or seconds: `5`); exit 2 if not. */
export function durationFlag(text: string, flag: string): number {
  try {
    return parseDurationFlag(text, flag);
  } catch (err) {
    throw new UsageError((err as Error).message);
  }
}
