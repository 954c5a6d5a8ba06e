import { existsSync, mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { runCommand } from "@oclif/test";
import { describe, expect, it } from "vitest";
import { loadConfig } from "../../src/config/index.js";
import { type InitResult, runInit } from "../../src/init/index.js";
import { ROOT } from "../generate/golden-cases.js";

const run = <T = InitResult>(args: string[]) => runCommand<T>(args, { root: ROOT });
const tmp = () => mkdtempSync(join(tmpdir(), "sshscrape-init-"));

describe("sshscrape init (not on a terminal: flags and defaults, no questions)", () => {
  it("writes a commented starter list that validates and generates", async () => {
    const file = join(tmp(), "hosts.yaml");
    const { error, result, stderr } = await run([
      "init",
      file,
      "--host",
      "db1.example.org",
      "--host",
      "2001:db8::1",
      "--exporter",
      "node:9100",
      "--exporter",
      "postgres:9187",
      "--key",
      "agenix",
    ]);
    expect(error).toBeUndefined();
    expect(result).toEqual({ file, targets: 2, overwritten: false });
    expect(stderr).toContain(`wrote ${file} (2 targets)`);
    const text = readFileSync(file, "utf8");
    expect(text.split("\n").filter((l) => l.trim().startsWith("#")).length).toBeGreaterThan(10);
    const { config } = loadConfig(file);
    expect(config.targets.map((t) => t.host)).toEqual(["db1.example.org", "2001:db8::1"]);
    expect(config.targets[1]?.exporters.map((e) => [e.name, e.port])).toEqual([
      ["node", 9100],
      ["postgres", 9187],
    ]);
    expect(config.ssh.key).toEqual({ agenix: { file: "./secrets/sshscrape.age" } });
    // Before `keyscan` the list has no host keys: the NixOS output (services.sshscrape writes known_hosts
    // from them) says what to run, the plain Prometheus output needs none.
    const early = await runCommand(["generate", file], { root: ROOT });
    expect(early.error?.oclif?.exit).toBe(2);
    expect(early.stderr).toContain(`run \`sshscrape keyscan ${file}\``);
    const gen = await runCommand(["generate", file, "--format", "prometheus", "--verify"], { root: ROOT });
    expect(gen.error).toBeUndefined();
    expect(gen.stdout).toContain("job_name: postgres");
  });

  it("defaults alone give a valid list (sops key, one example host, node exporter)", async () => {
    const file = join(tmp(), "sshscrape.yaml");
    const { error } = await run(["init", file]);
    expect(error).toBeUndefined();
    const { config } = loadConfig(file);
    expect(config.ssh.key).toEqual({ sops: { file: "./secrets/monitoring.yaml", key: "sshscrape_ssh_key" } });
    expect(config.targets[0]?.exporters[0]).toMatchObject({ name: "node", port: 9100 });
  });

  it("never overwrites without --force (exit 2, file unchanged); --force replaces", async () => {
    const file = join(tmp(), "sshscrape.yaml");
    writeFileSync(file, "mine\n");
    const { error, stderr } = await run(["init", file]);
    expect(error?.oclif?.exit).toBe(2);
    expect(stderr).toContain(`${file}: already exists; pass --force`);
    expect(readFileSync(file, "utf8")).toBe("mine\n");
    const forced = await run(["init", file, "--force", "--json"]);
    expect(forced.result?.overwritten).toBe(true);
    expect(loadConfig(file).config.targets).toHaveLength(1);
  });

  it("bad flag values: exit 2 naming the field, nothing written", async () => {
    const dir = tmp();
    const a = await run(["init", join(dir, "a.yaml"), "--exporter", "node"]);
    expect(a.error?.oclif?.exit).toBe(2);
    expect(a.stderr).toContain("--exporter node: expected NAME:PORT");
    const b = await run(["init", join(dir, "b.yaml"), "--host", "bad..host", "--exporter", "node:70000"]);
    expect(b.error?.oclif?.exit).toBe(2);
    expect(b.stderr).toContain("targets[0].host: expected a DNS name");
    expect(b.stderr).toContain("targets[0].exporters[0].port: expected 1–65535");
    expect(existsSync(join(dir, "a.yaml")) || existsSync(join(dir, "b.yaml"))).toBe(false);
  });

  it("keeps YAML-significant characters in flag values intact", async () => {
    // Through runInit: @oclif/test's runCommand re-splits arguments at spaces and quotes.
    const file = join(tmp(), "sshscrape.yaml");
    // biome-ignore lint/suspicious/noTemplateCurlyInString: a literal ${ in a file name, on purpose
    const keyFile = './secrets/we ird: #file"${x}.yaml';
    const sopsKey = "a: b # c\\ '' \"";
    await runInit({ file, force: false, interactive: false, known: { keyKind: "sops", keyFile, sopsKey } });
    expect(loadConfig(file).config.ssh.key).toEqual({ sops: { file: keyFile, key: sopsKey } });
  });
});

describe("sshscrape schema", () => {
  it("prints the JSON Schema of the target list", async () => {
    const { result, error } = await runCommand<Record<string, unknown>>(["schema", "--json"], { root: ROOT });
    expect(error).toBeUndefined();
    const props = (result as { properties: Record<string, unknown> }).properties;
    expect(Object.keys(props)).toEqual(expect.arrayContaining(["proxy", "ssh", "defaults", "targets"]));
  });
});
