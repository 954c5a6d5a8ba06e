import { execFileSync, spawnSync } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, relative } from "node:path";
import { runCommand } from "@oclif/test";
import { describe, expect, it } from "vitest";
import { parse } from "yaml";
import type { GenerateResult } from "../../src/generate/index.js";
import { GOLDEN, ROOT } from "../generate/golden-cases.js";

const run = <T = GenerateResult>(args: string[]) => runCommand<T>(args, { root: ROOT });
const nixfmtOnPath = spawnSync("sh", ["-c", "command -v nixfmt"]).status === 0;
const tmp = () => mkdtempSync(join(tmpdir(), "sshscrape-cli-"));

function list(dir: string, text: string, name = "list.yaml"): string {
  const file = join(dir, name);
  writeFileSync(file, text);
  return file;
}

const KEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIMaox8osPCTxv6HRrHRIGHDaD4dMA2LmU4tG8UKzxIwE";
const VALID = `ssh:\n  key: { path: /k }\ntargets:\n  - host: a.example.org\n    hostKeys: ["${KEY}"]\n    exporters: [{ name: node, port: 9100 }]\n`;

describe("sshscrape generate", () => {
  it("prints the single file on stdout, byte-identical to the golden file", async () => {
    const { stdout, error } = await run(["generate", "examples/minimal.yaml"]);
    expect(error).toBeUndefined();
    expect(stdout).toBe(readFileSync(join(GOLDEN, "minimal/single/sshscrape.nix"), "utf8"));
  });

  it("--json returns the files (with content when printing)", async () => {
    const { result } = await run(["generate", "examples/minimal.yaml", "--json"]);
    expect(result?.files).toHaveLength(1);
    expect(result?.files[0]?.name).toBe("sshscrape.nix");
    expect(result?.files[0]?.content).toContain("services.sshscrape = {");
    // What a script sees: the real binary's stdout is the JSON (oclif prints it through console.log).
    const printed = JSON.parse(
      execFileSync("node", [join(ROOT, "bin/run.js"), "generate", "examples/minimal.yaml", "--json"], {
        cwd: ROOT,
        encoding: "utf8",
      }),
    );
    expect(printed).toEqual(result);
  });

  it("exit 2 with every validation problem on its own line, and nothing written", async () => {
    const dir = tmp();
    const file = list(
      dir,
      "ssh:\n  key: { path: relative }\ntargets:\n  - host: 'a b'\n    exporters: [{ name: node, port: 70000 }]\n",
    );
    const out = join(dir, "out");
    const { error, stderr } = await run(["generate", file, "--out", out]);
    expect(error?.oclif?.exit).toBe(2);
    const lines = stderr.trim().split("\n");
    expect(lines).toEqual([
      `${file}: ssh.key.path: expected an absolute path (line 2:16)`,
      `${file}: targets[0].host: expected a DNS name, an IPv4 address or an IPv6 address (without brackets) (line 4:11)`,
      `${file}: targets[0].exporters[0].port: expected 1–65535 (line 5:37)`,
    ]);
    expect(existsSync(out)).toBe(false);
  });

  it("exit 2 naming the path when the list cannot be read", async () => {
    const missing = join(tmp(), "nope.yaml");
    const { error, stderr } = await run(["generate", missing]);
    expect(error?.oclif?.exit).toBe(2);
    expect(stderr).toContain(`${missing}: cannot read target list: ENOENT`);
  });

  it("exit 2 for a YAML syntax error with line:column", async () => {
    const file = list(tmp(), "ssh: [\n");
    const { error, stderr } = await run(["generate", file]);
    expect(error?.oclif?.exit).toBe(2);
    expect(stderr).toMatch(
      new RegExp(`^${file.replace(/[.*+?^${}()|[\]\\/]/g, "\\$&")}:\\d+:\\d+: YAML syntax error`, "m"),
    );
  });

  it("--split and --remote need --out (exit 2)", async () => {
    for (const flag of ["--split", "--remote"]) {
      const { error } = await run(["generate", "examples/minimal.yaml", flag]);
      expect(error?.oclif?.exit, flag).toBe(2);
      expect(error?.message).toMatch(/--out/);
    }
  });

  it("--split and --module only with Nix output (exit 2)", async () => {
    const { error, stderr } = await run([
      "generate",
      "examples/minimal.yaml",
      "--format",
      "prometheus",
      "--module",
    ]);
    expect(error?.oclif?.exit).toBe(2);
    expect(stderr).toContain("--module shape Nix output; leave it out with --format prometheus");
  });

  it("--remote without ssh.publicKey: exit 2 saying which key to add", async () => {
    const dir = tmp();
    const { error, stderr } = await run(["generate", list(dir, VALID), "--out", join(dir, "o"), "--remote"]);
    expect(error?.oclif?.exit).toBe(2);
    expect(stderr).toContain("ssh.publicKey: needed by --remote");
    expect(existsSync(join(dir, "o"))).toBe(false);
  });

  it("a scrape timeout longer than the interval is refused before Prometheus would (exit 2)", async () => {
    const dir = tmp();
    const file = list(dir, `${VALID}defaults: { scrapeInterval: 5s, scrapeTimeout: 10s }\n`);
    const { error, stderr } = await run(["generate", file]);
    expect(error?.oclif?.exit).toBe(2);
    expect(stderr).toContain(
      `${file}: targets[0].exporters[0]: scrape timeout 10s is longer than the scrape interval 5s`,
    );
  });

  it("--out --split --remote writes every file and a default.nix importing them", async () => {
    const dir = tmp();
    const out = join(dir, "nested/out");
    const { error, result, stderr } = await run([
      "generate",
      "examples/sops.yaml",
      "--out",
      out,
      "--split",
      "--remote",
      "--verify",
    ]);
    expect(error).toBeUndefined();
    expect(readdirSync(out).sort()).toEqual([
      "default.nix",
      "modules",
      "remote.nix",
      "secrets.nix",
      "sshscrape.nix",
    ]);
    // Copies of the modules, byte-identical to the package's, so no flake input is needed.
    expect(readFileSync(join(out, "modules/sshscrape.nix"), "utf8")).toBe(
      readFileSync(join(ROOT, "nix/module.nix"), "utf8"),
    );
    expect(readFileSync(join(out, "modules/sshscrape-target.nix"), "utf8")).toBe(
      readFileSync(join(ROOT, "nix/target.nix"), "utf8"),
    );
    expect(result?.files.map((f) => f.path)).toContain(join(out, "default.nix"));
    expect(stderr).toContain("nix-instantiate --parse: default.nix ok");
    expect(stderr).toContain("nix-instantiate --parse: modules/sshscrape.nix ok");
    // Debian has no nixfmt; the two other outcomes have their own test below.
    expect(stderr).toContain(
      nixfmtOnPath ? "nixfmt --check: ok" : "nixfmt: not on PATH, formatting not checked",
    );
    // Secret paths are relative to where the files went.
    expect(readFileSync(join(out, "secrets.nix"), "utf8")).toContain(
      `sopsFile = ${relative(out, join(ROOT, "examples/secrets/monitoring.yaml"))};`,
    );
  });

  it("never replaces a file it did not write unless --force; nothing else is written either", async () => {
    const out = tmp();
    writeFileSync(join(out, "sshscrape.nix"), "{ mine = true; }\n");
    const { error, stderr } = await run(["generate", "examples/minimal.yaml", "--out", out, "--split"]);
    expect(error?.oclif?.exit).toBe(2);
    expect(stderr).toContain(`${join(out, "sshscrape.nix")}: exists and was not written by sshscrape`);
    expect(readdirSync(out)).toEqual(["sshscrape.nix"]);
    expect(readFileSync(join(out, "sshscrape.nix"), "utf8")).toBe("{ mine = true; }\n");

    const forced = await run(["generate", "examples/minimal.yaml", "--out", out, "--split", "--force"]);
    expect(forced.error).toBeUndefined();
    expect(readFileSync(join(out, "sshscrape.nix"), "utf8")).toMatch(/^# Generated by sshscrape/);
    // An older copy of a module (another version's text) is ours as well; a file of the user's there is not.
    writeFileSync(join(out, "modules/sshscrape.nix"), "# services.sshscrape: an older version\n{ }\n");
    const upgrade = await run(["generate", "examples/minimal.yaml", "--out", out, "--split"]);
    expect(upgrade.error).toBeUndefined();
    expect(readFileSync(join(out, "modules/sshscrape.nix"), "utf8")).toBe(
      readFileSync(join(ROOT, "nix/module.nix"), "utf8"),
    );
    writeFileSync(join(out, "modules/sshscrape.nix"), "{ mine = true; }\n");
    const mine = await run(["generate", "examples/minimal.yaml", "--out", out, "--split"]);
    expect(mine.error?.oclif?.exit).toBe(2);
    expect(mine.stderr).toContain(
      `${join(out, "modules/sshscrape.nix")}: exists and was not written by sshscrape`,
    );
    await run(["generate", "examples/minimal.yaml", "--out", out, "--split", "--force"]);
    // Regenerating over its own output needs no --force.
    const again = await run(["generate", "examples/minimal.yaml", "--out", out, "--split"]);
    expect(again.error).toBeUndefined();
  });

  it("refuses an --out that is a file, or holds a directory where a file goes: exit 1, nothing written", async () => {
    const dir = tmp();
    writeFileSync(join(dir, "file"), "x");
    const a = await run(["generate", "examples/minimal.yaml", "--out", join(dir, "file")]);
    expect(a.error?.oclif?.exit).toBe(1);
    expect(a.stderr).toContain("exists and is not a directory");

    const out = join(dir, "out");
    mkdirSync(join(out, "sshscrape.nix"), { recursive: true });
    const b = await run(["generate", "examples/minimal.yaml", "--out", out, "--split"]);
    expect(b.error?.oclif?.exit).toBe(1);
    expect(b.stderr).toContain(
      `${join(out, "sshscrape.nix")}: exists and is not a regular file; nothing was written`,
    );
    expect(readdirSync(out)).toEqual(["sshscrape.nix"]);
  });

  it("--verify without nix-instantiate on PATH: exit 1 saying so, nothing written", async () => {
    const dir = tmp();
    const empty = join(dir, "bin");
    mkdirSync(empty);
    const path = process.env.PATH;
    process.env.PATH = empty;
    try {
      const { error, stderr } = await run([
        "generate",
        "examples/minimal.yaml",
        "--out",
        join(dir, "o"),
        "--verify",
      ]);
      expect(error?.oclif?.exit).toBe(1);
      expect(stderr).toContain("nix-instantiate is not on PATH");
    } finally {
      process.env.PATH = path;
    }
    expect(existsSync(join(dir, "o"))).toBe(false);
  });

  it("--format prometheus and --format file-sd print Prometheus' own formats", async () => {
    const prom = await run(["generate", "examples/sops.yaml", "--format", "prometheus", "--verify"]);
    expect(prom.error).toBeUndefined();
    expect(prom.stdout).toBe(readFileSync(join(GOLDEN, "sops/prometheus/prometheus.yml"), "utf8"));
    expect(prom.stderr).toContain("promtool check config: prometheus.yml ok");
    const sd = await run(["generate", "examples/sops.yaml", "--format", "file-sd", "--verify"]);
    expect(sd.error).toBeUndefined();
    expect(JSON.parse(sd.stdout)).toEqual(
      JSON.parse(readFileSync(join(GOLDEN, "sops/file-sd/sshscrape-targets.json"), "utf8")),
    );
  });

  it("the old --module flag is still accepted and changes nothing; --modules copy needs --out", async () => {
    const { stdout, error } = await run(["generate", "examples/minimal.yaml", "--module"]);
    expect(error).toBeUndefined();
    expect(stdout).toBe(readFileSync(join(GOLDEN, "minimal/single/sshscrape.nix"), "utf8"));
    const copy = await run(["generate", "examples/minimal.yaml", "--modules", "copy"]);
    expect(copy.error?.oclif?.exit).toBe(2);
    expect(copy.stderr).toContain("--modules copy writes the module files beside the output; pass --out DIR");
    const dir = tmp();
    const flake = await run(["generate", "examples/minimal.yaml", "--out", dir, "--modules", "flake"]);
    expect(flake.error).toBeUndefined();
    expect(readdirSync(dir)).toEqual(["sshscrape.nix"]);
    expect(readFileSync(join(dir, "sshscrape.nix"), "utf8")).toBe(
      readFileSync(join(GOLDEN, "minimal/single/sshscrape.nix"), "utf8"),
    );
  });

  it("--verify runs nixfmt --check when it is on PATH and fails on what it rejects", async () => {
    const dir = tmp();
    const bin = join(dir, "bin");
    mkdirSync(bin);
    const fake = (exit: number) =>
      writeFileSync(join(bin, "nixfmt"), `#!/bin/sh\necho "nixfmt-stub: $*" >&2\nexit ${exit}\n`, {
        mode: 0o755,
      });
    const path = process.env.PATH;
    process.env.PATH = `${bin}:${path}`;
    try {
      fake(0);
      const ok = await run(["generate", "examples/minimal.yaml", "--out", join(dir, "a"), "--verify"]);
      expect(ok.error).toBeUndefined();
      expect(ok.stderr).toContain("nixfmt --check: ok");
      fake(1);
      const bad = await run(["generate", "examples/minimal.yaml", "--out", join(dir, "b"), "--verify"]);
      expect(bad.error?.oclif?.exit).toBe(1);
      expect(bad.stderr).toContain("nixfmt --check: nixfmt-stub: --check sshscrape.nix");
      expect(existsSync(join(dir, "b"))).toBe(false);
    } finally {
      process.env.PATH = path;
    }
  });

  it("refuses what services.sshscrape would reject, naming the list entry (exit 2)", async () => {
    const dir = tmp();
    const file = list(
      dir,
      `ssh:\n  key: { path: /k }\ntargets:\n  - host: a.example.org\n    exporters: [{ name: node, port: 9100 }]\n  - host: b.example.org\n    hostKeys: ["${KEY}"]\n    exporters: [{ name: node, port: 9100, scheme: https }]\n`,
    );
    const { error, stderr } = await run(["generate", file]);
    expect(error?.oclif?.exit).toBe(2);
    expect(stderr.trim().split("\n")).toEqual([
      `${file}: targets[0].hostKeys: services.sshscrape writes known_hosts from the targets' host keys, and a.example.org has none; run \`sshscrape keyscan ${file}\``,
      `${file}: targets[1].exporters[0]: exporters named "node" form one Prometheus job, so scheme, metricsPath, params, scrapeInterval, scrapeTimeout and tls must match targets[0].exporters[0]; rename one`,
    ]);
    // Plain Prometheus output has no such limit: the node exporters become two jobs.
    const prom = await run(["generate", file, "--format", "prometheus"]);
    expect(prom.error).toBeUndefined();
    expect(prom.stdout).toContain("job_name: node-2");
  });

  it("https exporters with different tls settings get their own jobs, each with its tls_config", async () => {
    const dir = tmp();
    const file = list(
      dir,
      [
        "ssh:\n  key: { path: /k }\ntargets:",
        "  - host: a.example.org\n    exporters: [{ name: pg, port: 9187, scheme: https, tls: { caFile: /etc/ca-a.pem } }]",
        "  - host: b.example.org\n    exporters: [{ name: pg, port: 9187, scheme: https, tls: { serverName: pg.internal, insecureSkipVerify: true } }]",
        "  - host: c.example.org\n    exporters: [{ name: pg, port: 9187, scheme: https, tls: { caFile: /etc/ca-a.pem } }]",
        "",
      ].join("\n"),
    );
    const { stdout, error } = await run(["generate", file, "--format", "prometheus"]);
    expect(error).toBeUndefined();
    const jobs = (parse(stdout) as { scrape_configs: Array<Record<string, unknown>> }).scrape_configs;
    const byCa = jobs.map((j) => ({
      tls: j.tls_config,
      targets: (j.static_configs as Array<{ targets: string[]; labels: Record<string, string> }>).flatMap(
        (sc) => sc.targets,
      ),
      job: (j.static_configs as Array<{ labels: Record<string, string> }>)[0]?.labels.job,
    }));
    expect(byCa).toEqual(
      expect.arrayContaining([
        {
          tls: { ca_file: "/etc/ca-a.pem" },
          targets: ["a.example.org:9187", "c.example.org:9187"],
          job: "pg",
        },
        {
          tls: { server_name: "pg.internal", insecure_skip_verify: true },
          targets: ["b.example.org:9187"],
          job: "pg",
        },
      ]),
    );
    expect(jobs).toHaveLength(2);
    // file_sd groups cannot say which CA to trust: warned, not dropped silently.
    const sd = await run(["generate", file, "--format", "file-sd"]);
    expect(sd.error).toBeUndefined();
    expect(sd.stderr).toContain(
      `${file}: targets[0].exporters[0].tls: warning: file_sd target groups cannot carry tls_config`,
    );
  });

  it("tls on an http exporter is refused naming its path (exit 2)", async () => {
    const dir = tmp();
    const file = list(
      dir,
      "ssh:\n  key: { path: /k }\ntargets:\n  - host: a.example.org\n    exporters: [{ name: node, port: 9100, tls: { caFile: ca.pem } }]\n",
    );
    const { error, stderr } = await run(["generate", file]);
    expect(error?.oclif?.exit).toBe(2);
    const lines = stderr.trim().split("\n");
    expect(lines).toContainEqual(
      expect.stringContaining("targets[0].exporters[0].tls.caFile: expected an absolute path"),
    );
    const file2 = list(
      dir,
      "ssh:\n  key: { path: /k }\ntargets:\n  - host: a.example.org\n    exporters: [{ name: node, port: 9100, tls: { caFile: /ca.pem } }]\n",
      "list2.yaml",
    );
    const second = await run(["generate", file2]);
    expect(second.error?.oclif?.exit).toBe(2);
    expect(second.stderr).toContain(
      "targets[0].exporters[0].tls: tls applies to scheme: https only; set scheme: https or remove tls",
    );
  });

  it("warns (stderr, exit 0) that proxy auth is not carried into the scrape jobs", async () => {
    const dir = tmp();
    const file = list(dir, `proxy: { auth: { username: prom, passwordFile: /run/secrets/p } }\n${VALID}`);
    const { error, stderr, stdout } = await run(["generate", file]);
    expect(error).toBeUndefined();
    expect(stderr).toContain(
      `${file}: proxy.auth: warning: the generated scrape jobs do not send the proxy password`,
    );
    expect(stdout).not.toMatch(/@/);
  });

  it("uses the public key given per target for --remote", async () => {
    const dir = tmp();
    const file = list(
      dir,
      `ssh:\n  key: { path: /k }\n  publicKey: "${KEY} main"\ntargets:\n  - host: a.example.org\n    hostKeys: ["${KEY}"]\n    ssh: { key: { path: /other }, publicKey: "${KEY} other" }\n    exporters: [{ name: node, port: 9100 }]\n`,
    );
    const { error } = await run(["generate", file, "--out", join(dir, "o"), "--remote"]);
    expect(error).toBeUndefined();
    expect(readFileSync(join(dir, "o/remote.nix"), "utf8")).toContain(`publicKey = "${KEY} other";`);
  });
});
