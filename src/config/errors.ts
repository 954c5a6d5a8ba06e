import { SshscrapeError } from "../errors.js";

/** The target list could not be read at all (missing, a directory, no permission). */
export class ConfigReadError extends SshscrapeError {
  readonly code = "CONFIG_UNREADABLE";
  override readonly exitCode = 2;
  constructor(
    readonly file: string,
    cause: NodeJS.ErrnoException,
  ) {
    super(`${file}: cannot read target list: ${cause.code ?? cause.message}${hint(cause.code)}`, { cause });
  }
}

function hint(code: string | undefined): string {
  if (code === "ENOENT") return " (no such file; create one with `sshscrape init`)";
  if (code === "EACCES") return " (permission denied)";
  if (code === "EISDIR") return " (that is a directory; pass the file)";
  return "";
}

export interface Problem {
  /** `targets[3].exporters[0].port`, or "" for the document as a whole. */
  path: string;
  message: string;
  /** 1-based position in the file where known (syntax errors, and validation problems in YAML). */
  line?: number;
  column?: number;
}

/** `FILE: targets[3].exporters[0].port: expected 1–65535 (line 7:29)`; syntax errors as `FILE:7:29: …`. */
function formatProblem(file: string, p: Problem): string {
  if (!p.path) return p.line ? `${file}:${p.line}:${p.column ?? 1}: ${p.message}` : `${file}: ${p.message}`;
  return `${file}: ${p.path}: ${p.message}${p.line ? ` (line ${p.line}:${p.column ?? 1})` : ""}`;
}

/** YAML or JSON syntax error, with line:column. */
export class ConfigSyntaxError extends SshscrapeError {
  readonly code = "CONFIG_SYNTAX";
  override readonly exitCode = 2;
  constructor(
    readonly file: string,
    readonly problems: Problem[],
  ) {
    super(problems.map((p) => formatProblem(file, p)).join("\n"));
  }
}

/** The file parsed but does not match the schema: every problem at once, one line each. */
export class ConfigValidationError extends SshscrapeError {
  readonly code = "CONFIG_INVALID";
  override readonly exitCode = 2;
  constructor(
    readonly file: string,
    readonly problems: Problem[],
  ) {
    super(problems.map((p) => formatProblem(file, p)).join("\n"));
  }
}
