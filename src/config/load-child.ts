/**
 * The child process of load-isolated.ts: `node load-child.js FILE` loads and validates the target list and
 * writes the outcome to stdout, v8-serialized (a structured clone, so the parent gets exactly what
 * loadConfig returned). A typed config error is an outcome too (exit 0); anything else is a crash (exit 1,
 * stack on stderr).
 */
import { serialize } from "node:v8";
import { ConfigReadError, ConfigSyntaxError, ConfigValidationError } from "./errors.js";
import { loadConfig } from "./load.js";
import type { IsolatedOutcome } from "./load-isolated.js";

function outcome(file: string): IsolatedOutcome {
  try {
    return { ok: loadConfig(file) };
  } catch (err) {
    if (err instanceof ConfigReadError) {
      const cause = err.cause as NodeJS.ErrnoException;
      return { error: { kind: "read", file: err.file, code: cause.code, message: cause.message } };
    }
    if (err instanceof ConfigSyntaxError)
      return { error: { kind: "syntax", file: err.file, problems: err.problems } };
    if (err instanceof ConfigValidationError)
      return { error: { kind: "invalid", file: err.file, problems: err.problems } };
    throw err;
  }
}

process.stdout.write(serialize(outcome(process.argv[2] ?? "")));
