import type { Command } from "@oclif/core";
import { isSshscrapeError } from "../src/errors.js";

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
  command.exit(err.exitCode);
}
