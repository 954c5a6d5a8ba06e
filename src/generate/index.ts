/** `sshscrape generate`: the one entry point the command calls. */
import { resolve } from "node:path";
import { loadConfig, withShardIndex } from "../config/index.js";
import { UsageError } from "../errors.js";
import { version } from "../version.js";
import {
  type Discovery,
  type Format,
  type GeneratedFile,
  generateFiles,
  type ModulesFrom,
} from "./generate.js";
import { generateWarnings } from "./warnings.js";
import { writeOutput } from "./write.js";

export { GenerateError, OutputWriteError, ToolMissingError, VerifyError } from "./errors.js";
export {
  type Discovery,
  type Format,
  type GeneratedFile,
  generateFiles,
  type ModulesFrom,
} from "./generate.js";

export interface GenerateRequest {
  file: string;
  out?: string;
  /** Where the output will live when printed (relative secret paths are relative to it); default cwd. */
  base?: string;
  format: Format;
  split: boolean;
  remote: boolean;
  /** The old `--module`: accepted and ignored, since the NixOS output is always the modules' options now. */
  module?: boolean;
  /** Where the NixOS modules come from (default: `copy` with --out, `flake` when printing). */
  modules?: ModulesFrom;
  verify: boolean;
  force: boolean;
  /** prometheus format: static target lists (default) or http_sd from the proxy. */
  discovery?: Discovery;
  /** Overrides the list's shards.index. */
  shard?: number;
  /** --rules: the alerting rules beside prometheus.yml (format prometheus only). */
  rules?: boolean;
}

export interface GenerateResult {
  source: string;
  outDir?: string;
  /** `content` only when printing (no --out), so `--json` callers get the module too. */
  files: Array<{ name: string; bytes: number; path?: string; content?: string }>;
  /** What --verify checked (and which tools were missing). */
  verified?: string[];
  /** Generated anyway, but worth knowing (`FILE: PATH: warning: …`). */
  warnings: string[];
}

export async function runGenerate(
  req: GenerateRequest,
): Promise<{ result: GenerateResult; stdout?: string }> {
  const nixOnly = [req.split && "--split", req.module && "--module", req.modules && "--modules"].filter(
    Boolean,
  );
  if (req.format !== "nix" && nixOnly.length > 0)
    throw new UsageError(
      `${nixOnly.join(" and ")} shape Nix output; leave ${nixOnly.length > 1 ? "them" : "it"} out with --format ${req.format}`,
    );
  if (req.rules && req.format !== "prometheus")
    throw new UsageError(
      `--rules writes Prometheus rules beside prometheus.yml: use it with --format prometheus (on NixOS: services.sshscrape.alertRules.enable)`,
    );
  const modules: ModulesFrom = req.modules ?? (req.out ? "copy" : "flake");
  if (modules === "copy" && !req.out)
    throw new UsageError("--modules copy writes the module files beside the output; pass --out DIR");
  if (req.discovery === "http" && req.format !== "prometheus")
    throw new UsageError(`--discovery http applies to --format prometheus only`);
  const read = loadConfig(req.file);
  const loaded =
    req.shard === undefined ? read : { ...read, config: withShardIndex(read, req.shard, "--shard") };
  const files: GeneratedFile[] = generateFiles(loaded, {
    source: req.file,
    version: version(),
    base: resolve(req.out ?? req.base ?? "."),
    format: req.format,
    split: req.split,
    remote: req.remote,
    modules,
    discovery: req.discovery,
    rules: req.rules,
  });
  if (!req.out && files.length > 1)
    throw new UsageError(
      `this writes ${files.length} files (${files.map((f) => f.name).join(", ")}); pass --out DIR`,
    );
  // Loaded only when asked for: execa and its dependencies cost start-up time every other run would pay.
  const verified = req.verify ? (await (await import("./verify.js")).verifyFiles(files)).notes : undefined;
  const warnings = generateWarnings(loaded, req.format);
  const summary = files.map((f) => ({ name: f.name, bytes: Buffer.byteLength(f.content) }));
  if (!req.out)
    return {
      result: {
        source: req.file,
        warnings,
        files: files.map((f, i) => ({
          ...summary[i],
          name: f.name,
          bytes: Buffer.byteLength(f.content),
          content: f.content,
        })),
        ...(verified ? { verified } : {}),
      },
      stdout: files[0]?.content,
    };
  const paths = writeOutput(req.out, files, req.force);
  return {
    result: {
      source: req.file,
      warnings,
      outDir: resolve(req.out),
      files: summary.map((s, i) => ({ ...s, path: paths[i] })),
      ...(verified ? { verified } : {}),
    },
  };
}
