/**
 * Regenerates examples/golden/ from examples/*.yaml (`npm run golden:update`). Review the diff before
 * committing: the golden test compares the generator against exactly these files.
 */
import { mkdirSync, rmSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { allGoldenCases, GOLDEN } from "../test/generate/golden-cases.js";

rmSync(GOLDEN, { recursive: true, force: true });
for (const c of allGoldenCases()) {
  mkdirSync(c.dir, { recursive: true });
  for (const f of c.files) {
    mkdirSync(dirname(join(c.dir, f.name)), { recursive: true });
    writeFileSync(join(c.dir, f.name), f.content);
  }
  console.log(`${c.example}/${c.shape}: ${c.files.map((f) => f.name).join(", ")}`);
}
