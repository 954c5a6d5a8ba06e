import { SshscrapeError } from "../errors.js";

/**
 * The target list is valid on its own but cannot be turned into this output (e.g. `--remote` without a
 * public key). One line per problem, `FILE: PATH: what is wrong; what to do`.
 */
export class GenerateError extends SshscrapeError {
  readonly code = "GENERATE_INVALID";
  override readonly exitCode = 2;
  constructor(
    readonly file: string,
    readonly problems: string[],
  ) {
    super(problems.map((p) => `${file}: ${p}`).join("\n"));
  }
}

/** `--verify` found a file Nix (or nixfmt, or promtool) rejects: a generator bug, reported as such. */
export class VerifyError extends SshscrapeError {
  readonly code = "GENERATE_VERIFY_FAILED";
}

/** A checker `--verify` needs is not on PATH. */
export class ToolMissingError extends SshscrapeError {
  readonly code = "TOOL_MISSING";
}

/** Writing the output directory failed (nothing was left half-written). */
export class OutputWriteError extends SshscrapeError {
  readonly code = "OUTPUT_WRITE_FAILED";
}
