/**
 * Runs a command of the built CLI (dist/, so `npm run build` first) in-process with @oclif/test and reports
 * what a user would see: exit code, stdout, stderr. oclif sets process.exitCode on failures (and for --json
 * output carrying failures); it is read here and reset so the test process itself does not exit 1.
 * oclif prints through console.log/console.error, which vitest intercepts before @oclif/test's capture of
 * process.stdout/stderr sees it, so the console is pointed back at the streams for the run.
 */
import { fileURLToPath } from "node:url";
import { format } from "node:util";
import { runCommand } from "@oclif/test";

const root = fileURLToPath(new URL("../..", import.meta.url));

export interface CliRun<T> {
  exitCode: number;
  stdout: string;
  stderr: string;
  result?: T;
  /** The error message oclif printed (without its "Error:" decoration), when the command failed. */
  error?: string;
}

export async function runCli<T = unknown>(args: string[]): Promise<CliRun<T>> {
  const before = process.exitCode;
  const { log, error } = console;
  console.log = (...a: unknown[]) => process.stdout.write(`${format(...a)}\n`);
  console.error = (...a: unknown[]) => process.stderr.write(`${format(...a)}\n`);
  process.exitCode = undefined;
  try {
    const out = await runCommand<T>(args, { root });
    const errExit = (out.error as { oclif?: { exit?: number } } | undefined)?.oclif?.exit;
    const exitCode = out.error ? (errExit ?? 1) : Number(process.exitCode ?? 0);
    return {
      exitCode,
      stdout: out.stdout,
      stderr: out.stderr,
      result: out.result,
      error: out.error?.message,
    };
  } finally {
    console.log = log;
    console.error = error;
    process.exitCode = before;
  }
}
