/**
 * The golden outputs: every example list × every output shape. Shared by the golden test and
 * `npm run golden:update` (scripts/golden.ts), so both always mean the same files.
 */
import { readdirSync } from "node:fs";
import { join, resolve } from "node:path";
import { loadConfig } from "../../src/config/index.js";
import { type GeneratedFile, type GenerateOptions, generateFiles } from "../../src/generate/generate.js";
import { version } from "../../src/version.js";

export const ROOT = resolve(import.meta.dirname, "../..");
export const EXAMPLES = join(ROOT, "examples");
export const GOLDEN = join(EXAMPLES, "golden");

type Shape = Pick<GenerateOptions, "format" | "split" | "remote" | "modules">;

export const SHAPES: Record<string, Shape> = {
  // What `generate LIST` prints: one file, the modules from the flake.
  single: { format: "nix", split: false, remote: false, modules: "flake" },
  // `--out DIR --remote`: copies of the modules beside the files.
  out: { format: "nix", split: false, remote: true, modules: "copy" },
  split: { format: "nix", split: true, remote: true, modules: "copy" },
  prometheus: { format: "prometheus", split: false, remote: false, modules: "flake" },
  "file-sd": { format: "file-sd", split: false, remote: false, modules: "flake" },
};

export function exampleNames(): string[] {
  return readdirSync(EXAMPLES)
    .filter((f) => f.endsWith(".yaml"))
    .map((f) => f.replace(/\.yaml$/, ""))
    .sort();
}

export interface GoldenCase {
  example: string;
  shape: string;
  /** examples/golden/<example>/<shape> */
  dir: string;
  files: GeneratedFile[];
}

/** Generated exactly as `sshscrape generate examples/<name>.yaml --out <dir> …` run from the repo root would. */
export function goldenCase(example: string, shape: string): GoldenCase {
  const dir = join(GOLDEN, example, shape);
  const source = `examples/${example}.yaml`;
  const loaded = loadConfig(join(ROOT, source));
  const files = generateFiles(loaded, { source, version: version(), base: dir, ...(SHAPES[shape] as Shape) });
  return { example, shape, dir, files };
}

export function allGoldenCases(): GoldenCase[] {
  return exampleNames().flatMap((e) => Object.keys(SHAPES).map((s) => goldenCase(e, s)));
}
