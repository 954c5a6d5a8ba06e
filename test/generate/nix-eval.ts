/** Real `nix-instantiate` for the generator's tests: plain evaluation and `--parse`. */
import { execFileSync } from "node:child_process";
import { nixEnv } from "../nix/nix.js";

/** Runs `nix-instantiate --eval --strict --json -E EXPR`; throws with Nix's stderr on failure. */
export function nixEval<T = unknown>(expr: string): T {
  try {
    const out = execFileSync(
      "nix-instantiate",
      ["--eval", "--strict", "--json", "--read-write-mode", "-E", expr],
      {
        encoding: "utf8",
        stdio: ["ignore", "pipe", "pipe"],
        env: nixEnv(),
        maxBuffer: 64 * 1024 * 1024,
      },
    );
    return JSON.parse(out) as T;
  } catch (err) {
    const e = err as { stderr?: string; message: string };
    throw new Error(`nix-instantiate --eval failed: ${e.stderr ?? e.message}`);
  }
}

/** `nix-instantiate --parse` on each file; returns Nix's error text per failing file. */
export function parseErrors(files: string[]): string[] {
  const errors: string[] = [];
  for (const f of files) {
    try {
      execFileSync("nix-instantiate", ["--parse", f], {
        stdio: ["ignore", "ignore", "pipe"],
        env: nixEnv(),
      });
    } catch (err) {
      errors.push(`${f}: ${(err as { stderr?: Buffer }).stderr?.toString() ?? err}`);
    }
  }
  return errors;
}
