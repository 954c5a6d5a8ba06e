/**
 * `generate --verify` when a checker says no: the real nix-instantiate and promtool judge files with known
 * faults, and verifyFiles (what --verify runs before writing anything) must fail with the tool's own words.
 * The generator's own output passing --verify is covered in test/cli/generate.test.ts.
 */
import { describe, expect, it } from "vitest";
import { VerifyError } from "../../src/generate/errors.js";
import { verifyFiles } from "../../src/generate/verify.js";

const goodNix = "{ services.prometheus.enable = true; }\n";
const goodProm = "scrape_configs:\n  - job_name: node\n    static_configs: [{ targets: ['db1:9100'] }]\n";

async function rejection(files: Array<{ name: string; content: string }>): Promise<VerifyError> {
  try {
    await verifyFiles(files);
  } catch (err) {
    if (err instanceof VerifyError) return err;
    throw err;
  }
  throw new Error("verifyFiles accepted the files");
}

describe("generate --verify failures", () => {
  it("accepts well-formed files, saying which checks ran (so the failures below are the tools' verdicts)", async () => {
    const { notes } = await verifyFiles([
      { name: "sshscrape.nix", content: goodNix },
      { name: "prometheus.yml", content: goodProm },
    ]);
    expect(notes).toContain("nix-instantiate --parse: sshscrape.nix ok");
    expect(notes).toContain("promtool check config: prometheus.yml ok");
  });

  it("fails on a Nix parse error, naming the file and quoting nix-instantiate", async () => {
    const err = await rejection([
      { name: "sshscrape.nix", content: "{ services.prometheus.enable = true\n" },
    ]);
    expect(err.code).toBe("GENERATE_VERIFY_FAILED");
    expect(err.exitCode).toBe(1);
    expect(err.message).toMatch(/^sshscrape\.nix: nix-instantiate --parse rejected it/);
    expect(err.message).toMatch(/syntax error/);
  });

  it("fails when promtool rejects prometheus.yml, quoting promtool", async () => {
    const duplicate = `${goodProm}  - job_name: node\n    static_configs: [{ targets: ['db2:9100'] }]\n`;
    const err = await rejection([
      { name: "sshscrape.nix", content: goodNix },
      { name: "prometheus.yml", content: duplicate },
    ]);
    expect(err.code).toBe("GENERATE_VERIFY_FAILED");
    expect(err.message).toMatch(/^promtool check config rejected the output/);
    expect(err.message).toContain('found multiple scrape configs with job name "node"');
  });

  it("fails when promtool rejects a file_sd targets file", async () => {
    const err = await rejection([
      { name: "sshscrape-targets.json", content: JSON.stringify([{ targets: "db1:9100" }]) },
    ]);
    expect(err.message).toMatch(/^promtool check config rejected the output/);
    expect(err.message).toContain("sshscrape-targets.json");
  });
});
