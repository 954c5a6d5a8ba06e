/**
 * loadConfig for the proxy, run in a short-lived child process (load-child.ts). The proxy process itself then
 * never loads the schema and parsers (zod's ~95 modules, js-yaml, yaml), which would stay resident for the
 * proxy's whole life: 5–6 MB of its idle RSS for ~130 ms of CPU at start and at each SIGHUP
 * (docs/benchmarks.md, "Start-up memory"). Same result and same typed errors as loadConfig.
 */
import { execFile, execFileSync } from "node:child_process";
import { fileURLToPath } from "node:url";
import { deserialize } from "node:v8";
import { ConfigReadError, ConfigSyntaxError, ConfigValidationError, type Problem } from "./errors.js";
import type { LoadedConfig } from "./load.js";

/** What the child writes: the loaded list, or the typed error as data. */
export type IsolatedOutcome =
  | { ok: LoadedConfig }
  | {
      error:
        | { kind: "read"; file: string; code?: string; message: string }
        | { kind: "syntax" | "invalid"; file: string; problems: Problem[] };
    };

// From the TypeScript sources (bin/dev.js, tests) the child is the .ts file, run through tsx like its parent.
const FROM_SOURCE = import.meta.url.endsWith(".ts");
const CHILD = fileURLToPath(new URL(FROM_SOURCE ? "./load-child.ts" : "./load-child.js", import.meta.url));
/** Room for a very large list (2 000 targets are ~1 MB serialized). */
const MAX_BUFFER = 256 * 1024 * 1024;

function childArgs(file: string): string[] {
  // The child needs none of the parent's V8 flags (bin/run.js sets the young generation's growth for the proxy).
  return FROM_SOURCE ? ["--import", "tsx", CHILD, file] : [CHILD, file];
}

function fromOutcome(out: IsolatedOutcome): LoadedConfig {
  if ("ok" in out) return out.ok;
  const e = out.error;
  if (e.kind === "read")
    throw new ConfigReadError(
      e.file,
      Object.assign(new Error(e.message), { code: e.code }) as NodeJS.ErrnoException,
    );
  if (e.kind === "syntax") throw new ConfigSyntaxError(e.file, e.problems);
  throw new ConfigValidationError(e.file, e.problems);
}

function crashed(file: string, err: unknown): Error {
  const stderr = String((err as { stderr?: unknown }).stderr ?? "").trim();
  return new Error(`loading ${file} in a child process failed: ${stderr || (err as Error).message}`, {
    cause: err,
  });
}

/** loadConfig(file), in a child process; throws the same typed errors. */
export function loadConfigIsolated(file: string): LoadedConfig {
  let out: Buffer;
  try {
    out = execFileSync(process.execPath, childArgs(file), {
      maxBuffer: MAX_BUFFER,
      stdio: ["ignore", "pipe", "pipe"],
    });
  } catch (err) {
    throw crashed(file, err);
  }
  return fromOutcome(deserialize(out) as IsolatedOutcome);
}

/** The same without blocking the event loop (SIGHUP reloads while scrapes are served). */
export function loadConfigIsolatedAsync(file: string): Promise<LoadedConfig> {
  return new Promise((resolve, reject) => {
    execFile(
      process.execPath,
      childArgs(file),
      { encoding: "buffer", maxBuffer: MAX_BUFFER },
      (err, stdout, stderr) => {
        if (err) return reject(crashed(file, Object.assign(err, { stderr })));
        try {
          resolve(fromOutcome(deserialize(stdout) as IsolatedOutcome));
        } catch (e) {
          reject(e);
        }
      },
    );
  });
}
