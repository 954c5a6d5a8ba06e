/** The rules and the dashboard ship with the package: in `npm pack` (package.json "files") and the Nix build. */
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { execa } from "execa";
import { describe, expect, it } from "vitest";

const ROOT = join(import.meta.dirname, "..", "..");
const SHIPPED = ["rules/sshscrape.rules.yml", "dashboards/sshscrape.json"];

describe("shipping rules/ and dashboards/", () => {
  it("npm pack includes them", async () => {
    const r = await execa("npm", ["pack", "--dry-run", "--json", "--ignore-scripts"], { cwd: ROOT });
    const files = (JSON.parse(r.stdout) as Array<{ files: Array<{ path: string }> }>)[0]?.files.map(
      (f) => f.path,
    );
    expect(files).toEqual(expect.arrayContaining(SHIPPED));
  });

  it("the Nix package's source set includes them (buildNpmPackage installs package.json's files from it)", () => {
    // The fileset cannot be evaluated here (lib.fileset needs a newer Nix than Debian's); the list is plain.
    const nix = readFileSync(join(ROOT, "nix", "package.nix"), "utf8");
    const fileset = /fileset = lib\.fileset\.unions \[([\s\S]*?)\];/.exec(nix)?.[1] ?? "";
    expect(fileset).toMatch(/^\s*\.\.\/rules$/m);
    expect(fileset).toMatch(/^\s*\.\.\/dashboards$/m);
  });
});
