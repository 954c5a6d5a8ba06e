/**
 * Regenerates examples/golden/ from examples/*.yaml (`npm run golden:update`). Review the diff before
 * committing: the golden test compares the generator against exactly these files.
 */
import { mkdirSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { dirname, join, relative } from "node:path";
import { MODULE_COPIES } from "../src/generate/generate.js";
import { allGoldenCases, GOLDEN, ROOT } from "../test/generate/golden-cases.js";

// The module copies `--modules copy` writes are the package's own files byte for byte (the golden test reads
// them through the link and compares): a link keeps twelve copies of nix/*.nix out of the repository.
const copies = new Map<string, string>(Object.values(MODULE_COPIES).map((m) => [m.name, m.source]));

rmSync(GOLDEN, { recursive: true, force: true });
for (const c of allGoldenCases()) {
  mkdirSync(c.dir, { recursive: true });
  for (const f of c.files) {
    const target = join(c.dir, f.name);
    mkdirSync(dirname(target), { recursive: true });
    const source = copies.get(f.name);
    if (source) symlinkSync(relative(dirname(target), join(ROOT, source)), target);
    else writeFileSync(target, f.content);
  }
  console.log(`${c.example}/${c.shape}: ${c.files.map((f) => f.name).join(", ")}`);
}
