/**
 * Running the real Nix 2.8 CLI from tests: evaluation to JSON, flake commands against a git-tracked copy of
 * the working tree with nixpkgs overridden by the stub in test/nix/stub-nixpkgs (see its README).
 */
import { execFileSync, spawnSync } from "node:child_process";
import { chmodSync, cpSync, mkdirSync, mkdtempSync, readdirSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";

export const repoRoot = resolve(dirname(fileURLToPath(import.meta.url)), "../..");
export const stubDir = join(repoRoot, "test/nix/stub-nixpkgs");

const FLAKES = ["--extra-experimental-features", "nix-command flakes"];

/**
 * Nix as a machine that only ran `.ci/run` has it: Debian's nix-bin ships no nix.conf, so Nix defaults to
 * `build-users-group = nixbld` (a group nobody created) and to the public binary cache (unreachable here).
 * Every Nix command a test runs gets this configuration instead, whatever the machine's nix.conf says:
 * builds run as the calling user, nothing is substituted, and the sandbox is off because the stub
 * nixpkgs' host packages (/usr/bin/npm, Debian's CA bundle) live outside the store.
 */
export const NIX_TEST_CONFIG = ["build-users-group =", "substituters =", "sandbox = false"].join("\n");

/** The environment for a Nix command run by a test (NIX_CONFIG overrides nix.conf, nix.conf(5)). */
export function nixEnv(): NodeJS.ProcessEnv {
  const own = process.env.NIX_CONFIG ? `${process.env.NIX_CONFIG}\n` : "";
  return { ...process.env, NIX_CONFIG: `${own}${NIX_TEST_CONFIG}` };
}

/**
 * A Nix store of the test's own (store, database and logs under one temporary directory), for tests that
 * build: a fresh store makes every build happen for real without deleting anything from the machine's
 * /nix/store. Pass `args` to nix-build / nix-instantiate; `remove()` deletes the directory.
 */
export function scratchStore(): { dir: string; storeDir: string; args: string[]; remove: () => void } {
  const dir = mkdtempSync(join(tmpdir(), "sshscrape-nix-store-"));
  const storeDir = join(dir, "store");
  return {
    dir,
    storeDir,
    args: ["--store", `local?store=${storeDir}&state=${join(dir, "state")}&log=${join(dir, "log")}`],
    remove: () => {
      // Store paths are read-only once registered; make them writable so the directory can go.
      const writable = (p: string) => {
        chmodSync(p, 0o755);
        for (const e of readdirSync(p, { withFileTypes: true }))
          if (e.isDirectory() && !e.isSymbolicLink()) writable(join(p, e.name));
      };
      try {
        writable(dir);
      } finally {
        rmSync(dir, { recursive: true, force: true });
      }
    },
  };
}

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
  const r = spawnSync(cmd, args, { cwd, encoding: "utf8", maxBuffer: 64 * 1024 * 1024, env: nixEnv() });
  if (r.error) throw r.error;
  return { status: r.status ?? -1, stdout: r.stdout, stderr: r.stderr };
}

/** `nix-instantiate --eval --strict --json` of an expression (read-write: builtins.toFile must work). */
export function nixEval(expr: string, extra: string[] = []): Run {
  return run("nix-instantiate", [...extra, "--read-write-mode", "--eval", "--strict", "--json", "-E", expr]);
}

export function nixEvalJson<T = unknown>(expr: string, extra: string[] = []): T {
  const r = nixEval(expr, extra);
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
