/** `init` fills ssh.publicKey from --public-key (a line or a .pub file) or KEY.pub beside a plain key path. */
import { execFileSync, spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { loadConfig } from "../../src/config/index.js";
import { CLI } from "../e2e/proxy-process.js";
import { runCli } from "../helpers/run-cli.js";

const tmp = () => mkdtempSync(join(tmpdir(), "sshscrape-init-pub-"));

/** A real key pair from OpenSSH's ssh-keygen, as the README's deployment flow makes it. */
function keyPair(dir: string): { key: string; line: string } {
  const key = join(dir, "sshscrape_key");
  execFileSync("ssh-keygen", ["-q", "-t", "ed25519", "-N", "", "-C", "sshscrape@monitoring", "-f", key]);
  return { key, line: readFileSync(`${key}.pub`, "utf8").trim() };
}

describe("sshscrape init: ssh.publicKey", () => {
  it("--public-key KEY.pub is read, and generate --remote then works (the README's sequence)", async () => {
    const dir = tmp();
    const { key, line } = keyPair(dir);
    const file = join(dir, "hosts.yaml");
    const init = await runCli([
      "init",
      file,
      "--host",
      "db1.example.org",
      "--key",
      "sops",
      "--public-key",
      `${key}.pub`,
    ]);
    expect(init.exitCode, init.stderr).toBe(0);
    expect(loadConfig(file).config.ssh.publicKey).toBe(line);
    // What `sshscrape keyscan` does next: a host key where init left the commented line (any real key will do).
    const hostKey = line.split(" ").slice(0, 2).join(" ");
    writeFileSync(file, readFileSync(file, "utf8").replace(/# hostKeys: .*/, `hostKeys: ["${hostKey}"]`));
    const gen = await runCli(["generate", file, "--out", join(dir, "out"), "--split", "--remote"]);
    expect(gen.stderr).not.toContain("needed by --remote");
    expect(gen.exitCode, gen.stderr).toBe(0);
    expect(readFileSync(join(dir, "out", "remote.nix"), "utf8")).toContain(line.split(" ")[1]);
  });

  it("--public-key also takes the line itself", async () => {
    const dir = tmp();
    const { line } = keyPair(dir);
    const file = join(dir, "hosts.yaml");
    // Its own process: @oclif/test's runCommand splits arguments at spaces, and the line has two.
    const init = spawnSync(process.execPath, [CLI, "init", file, "--public-key", line], { encoding: "utf8" });
    expect(init.status, init.stderr).toBe(0);
    expect(loadConfig(file).config.ssh.publicKey).toBe(line);
  });

  it("--key path --key-file KEY picks up KEY.pub beside it", async () => {
    const dir = tmp();
    const { key, line } = keyPair(dir);
    const file = join(dir, "hosts.yaml");
    const init = await runCli(["init", file, "--key", "path", "--key-file", key]);
    expect(init.exitCode, init.stderr).toBe(0);
    expect(loadConfig(file).config.ssh.publicKey).toBe(line);
  });

  it("without a .pub beside the key, publicKey stays commented out with a hint", async () => {
    const dir = tmp();
    const file = join(dir, "hosts.yaml");
    const init = await runCli(["init", file, "--key", "path", "--key-file", join(dir, "absent_key")]);
    expect(init.exitCode, init.stderr).toBe(0);
    expect(loadConfig(file).config.ssh.publicKey).toBeUndefined();
    expect(readFileSync(file, "utf8")).toContain("# or: sshscrape init --public-key KEY.pub");
  });

  it("refuses a missing file and a private key, naming the flag (exit 2, nothing written)", async () => {
    const dir = tmp();
    const { key } = keyPair(dir);
    const file = join(dir, "hosts.yaml");
    const missing = await runCli(["init", file, "--public-key", join(dir, "nope.pub")]);
    expect(missing.exitCode).toBe(2);
    expect(missing.stderr).toContain(`--public-key ${join(dir, "nope.pub")}: neither a public key line`);
    const priv = await runCli(["init", file, "--public-key", key]);
    expect(priv.exitCode).toBe(2);
    expect(priv.stderr).toContain("is it the private key? pass KEY.pub");
    expect(() => readFileSync(file)).toThrow();
  });
});
