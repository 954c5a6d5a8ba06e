/**
 * The path a new user takes, across three commands: `init` writes a starter list, `keyscan` records the host
 * keys of a real sshd into it (keeping init's comments), and `generate --module --remote --verify` accepts it.
 */
import { mkdtempSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { runCommand } from "@oclif/test";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { loadConfig } from "../../src/config/index.js";
import { ROOT } from "../generate/golden-cases.js";
import { type Sshd, startSshd } from "../helpers/sshd.js";

let sshd: Sshd;
beforeAll(async () => {
  sshd = await startSshd();
});
afterAll(async () => {
  await sshd?.stop();
});

describe("init → keyscan → generate", () => {
  it("gives a list that --module accepts once keyscan has filled in the host keys", async () => {
    const dir = mkdtempSync(join(tmpdir(), "sshscrape-flow-"));
    const file = join(dir, "hosts.yaml");
    const run = (args: string[]) => runCommand(args, { root: ROOT });
    const init = await run([
      "init",
      file,
      "--host",
      "127.0.0.1",
      "--ssh-port",
      String(sshd.port),
      "--key",
      "path",
      // runCommand re-splits its arguments at spaces unless quoted like this.
      `--public-key="${sshd.clientKeyPub}"`,
    ]);
    expect(init.error).toBeUndefined();

    // Without host keys services.sshscrape cannot write known_hosts: generate says what to run.
    const early = await run(["generate", file, "--module"]);
    expect(early.error?.oclif?.exit).toBe(2);
    expect(early.stderr).toContain(`run \`sshscrape keyscan ${file}\``);

    const scan = await run(["keyscan", file]);
    expect(scan.error, scan.stderr).toBeUndefined();
    const text = readFileSync(file, "utf8");
    expect(text).toContain("# One entry per server; exporters listen on the server's loopback.");
    expect(loadConfig(file).config.targets[0]?.hostKeys).toContain(sshd.hostKeyPub);

    const out = join(dir, "nixos");
    const gen = await run(["generate", file, "--module", "--remote", "--out", out, "--verify"]);
    expect(gen.error, gen.stderr).toBeUndefined();
    expect(readFileSync(join(out, "sshscrape.nix"), "utf8")).toContain(sshd.hostKeyPub);
    expect(readFileSync(join(out, "remote.nix"), "utf8")).toContain("services.sshscrape-target = {");
  });
});
