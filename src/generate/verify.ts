/**
 * `--verify`: the real tools judge the output before anything is written. nix-instantiate is required (asked
 * for explicitly); nixfmt and promtool are used when on PATH, and their absence is reported, not hidden.
 */
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { execa } from "execa";
import { ToolMissingError, VerifyError } from "./errors.js";
import type { GeneratedFile } from "./generate.js";

export interface VerifyReport {
  /** `nix-instantiate --parse: sshscrape.nix ok`, `nixfmt: not on PATH, format not checked`, … */
  notes: string[];
}

async function run(tool: string, args: string[], cwd: string) {
  try {
    return await execa(tool, args, { cwd, reject: false, timeout: 60_000 });
  } catch (err) {
    throw new VerifyError(`${tool}: ${(err as Error).message}`, { cause: err });
  }
}

function missing(result: { failed: boolean; code?: string; exitCode?: number }): boolean {
  return result.code === "ENOENT" || (result.failed && result.exitCode === undefined);
}

export async function verifyFiles(files: GeneratedFile[]): Promise<VerifyReport> {
  const dir = mkdtempSync(join(tmpdir(), "sshscrape-verify-"));
  const notes: string[] = [];
  try {
    for (const f of files) {
      mkdirSync(dirname(join(dir, f.name)), { recursive: true });
      writeFileSync(join(dir, f.name), f.content);
    }
    const nixFiles = files.filter((f) => f.name.endsWith(".nix"));
    for (const f of nixFiles) {
      const r = await run("nix-instantiate", ["--parse", f.name], dir);
      if (missing(r))
        throw new ToolMissingError(
          "nix-instantiate is not on PATH: --verify needs Nix (e.g. `apt-get install nix-bin`); or leave out --verify",
        );
      if (r.exitCode !== 0)
        throw new VerifyError(
          `${f.name}: nix-instantiate --parse rejected it (a bug in sshscrape):\n${r.stderr}`,
        );
      notes.push(`nix-instantiate --parse: ${f.name} ok`);
    }
    if (nixFiles.length > 0) {
      const r = await run("nixfmt", ["--check", ...nixFiles.map((f) => f.name)], dir);
      if (missing(r)) notes.push("nixfmt: not on PATH, formatting not checked");
      else if (r.exitCode !== 0) throw new VerifyError(`nixfmt --check: ${r.stderr || r.stdout}`);
      else notes.push("nixfmt --check: ok");
    }
    const promFile = files.find((f) => f.name === "prometheus.yml");
    const sdFile = files.find((f) => f.name.endsWith("-targets.json"));
    if (promFile || sdFile) {
      let config = "prometheus.yml";
      if (!promFile && sdFile) {
        // file_sd groups are only checked as part of a config that reads them.
        config = ".verify-prometheus.yml";
        writeFileSync(
          join(dir, config),
          `scrape_configs:\n  - job_name: sshscrape\n    proxy_url: http://127.0.0.1:8888\n    file_sd_configs: [{ files: [${JSON.stringify(join(dir, sdFile.name))}] }]\n`,
        );
      }
      const r = await run("promtool", ["check", "config", config], dir);
      if (missing(r)) notes.push("promtool: not on PATH, Prometheus config not checked");
      else if (r.exitCode !== 0)
        throw new VerifyError(
          `promtool check config rejected the output (a bug in sshscrape):\n${r.stdout}${r.stderr}`,
        );
      else notes.push(`promtool check config: ${promFile ? promFile.name : sdFile?.name} ok`);
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
  return { notes };
}
