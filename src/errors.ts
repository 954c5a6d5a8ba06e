/**
 * Base class of every failure sshscrape reports on purpose. `code` is stable (scripts and tests match on
 * it); `exitCode` is what the CLI exits with: 2 for usage and validation problems, 1 for runtime failures.
 */
export abstract class SshscrapeError extends Error {
  abstract readonly code: string;
  readonly exitCode: number = 1;

  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = new.target.name;
  }
}

/** A value given on the command line is unusable. */
export class UsageError extends SshscrapeError {
  readonly code = "USAGE";
  override readonly exitCode = 2;
}

export function isSshscrapeError(err: unknown): err is SshscrapeError {
  return err instanceof SshscrapeError;
}
