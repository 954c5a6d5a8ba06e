/**
 * Running the real Nix 2.8 CLI from tests: evaluation to JSON, flake commands against a git-tracked copy of
 * the working tree with nixpkgs overridden by the stub in test/nix/stub-nixpkgs (see its README).
 */
import { execFileSync, spawnSync } from "node:child_process";
import { cpSync, mkdirSync, mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";

export const repoRoot = resolve(dirname(fileURLToPath(import.meta.url)), "../..");
export const stubDir = join(repoRoot, "test/nix/stub-nixpkgs");

const FLAKES = ["--extra-experimental-features", "nix-command flakes"];

/** A Nix string literal: JSON-quote, then escape `$` (nixpkgs' escapeNixString rule). */
export function nixString(s: string): string {
  return JSON.stringify(s).replace(/\$/g, "\\$");
}

/** A Nix expression for any JSON value. */
export function nixValue(v: unknown): string {
  return `(builtins.fromJSON ${nixString(JSON.stringify(v))})`;
}

export interface Run {
  status: number;
  stdout: string;
  stderr: string;
}

export function run(cmd: string, args: string[], cwd = repoRoot): Run {
  const r = spawnSync(cmd, args, { cwd, encoding: "utf8", maxBuffer: 64 * 1024 * 1024 });
  if (r.error) throw r.error;
  return { status: r.status ?? -1, stdout: r.stdout, stderr: r.stderr };
}

/** `nix-instantiate --eval --strict --json` of an expression (read-write: builtins.toFile must work). */
export function nixEval(expr: string): Run {
  return run("nix-instantiate", ["--read-write-mode", "--eval", "--strict", "--json", "-E", expr]);
}

export function nixEvalJson<T = unknown>(expr: string): T {
  const r = nixEval(expr);
  // On failure stdout may hold partial JSON: judge by the exit code.
  if (r.status !== 0) throw new Error(`nix evaluation failed:\n${r.stderr}`);
  return JSON.parse(r.stdout) as T;
}

export function nixCli(args: string[], cwd: string): Run {
  return run("nix", [...FLAKES, ...args], cwd);
}

/** Flags that make a flake command use the stub nixpkgs and never touch the network or the lock file. */
export const stubbed = [
  "--offline",
  "--override-input",
  "nixpkgs",
  "path:./test/nix/stub-nixpkgs",
  "--no-write-lock-file",
];

/**
 * A git repository holding the working tree's tracked and untracked-but-not-ignored files, committed: what a
 * flake sees in a clean clone (files that are not in git are invisible to flakes).
 */
export function flakeCopy(): string {
  const dir = mkdtempSync(join(tmpdir(), "sshscrape-flake-"));
  const files = execFileSync("git", ["ls-files", "-co", "--exclude-standard", "-z"], {
    cwd: repoRoot,
    encoding: "utf8",
  })
    .split("\0")
    .filter(Boolean);
  for (const f of files) {
    mkdirSync(dirname(join(dir, f)), { recursive: true });
    try {
      cpSync(join(repoRoot, f), join(dir, f));
    } catch (err) {
      // Deleted in the working tree but still in the index: a clean clone would not have it either.
      if ((err as NodeJS.ErrnoException).code !== "ENOENT") throw err;
    }
  }
  const git = (...args: string[]) =>
    execFileSync("git", ["-c", "user.name=test", "-c", "user.email=test@localhost", ...args], { cwd: dir });
  git("init", "-q");
  git("add", "-A");
  git("commit", "-q", "-m", "snapshot");
  return dir;
}
