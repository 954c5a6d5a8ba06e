/**
 * What every command does the same way, seen as a user sees it: the built CLI as its own process (stderr and
 * exit code exactly as a shell gets them).
 */
import { spawnSync } from "node:child_process";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { CLI } from "../e2e/proxy-process.js";

const work = mkdtempSync(join(tmpdir(), "sshscrape-conventions-"));
// As a user runs it: vitest's NODE_ENV=test would put oclif in development mode (TypeScript sources first).
const env = { ...process.env, NODE_ENV: "production" };
const sshscrape = (...args: string[]) => {
  const r = spawnSync(process.execPath, [CLI, ...args], {
    cwd: work,
    env,
    encoding: "utf8",
    timeout: 30_000,
  });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
};
const list = (name: string, text: string) => {
  const file = join(work, name);
  writeFileSync(file, text);
  return file;
};

describe("help and mistyped commands", () => {
  it("-h is --help, for the CLI and for a command", () => {
    const top = sshscrape("-h");
    expect(top.status).toBe(0);
    expect(top.stdout).toBe(sshscrape("--help").stdout);
    const check = sshscrape("check", "-h");
    expect(check.status).toBe(0);
    expect(check.stdout).toContain("USAGE");
    expect(check.stdout).toBe(sshscrape("check", "--help").stdout);
  });

  it("a mistyped command gets a did-you-mean that keeps its arguments and flags (exit 2)", () => {
    const r = sshscrape("chek", "hosts.yaml", "--direct");
    expect(r.status).toBe(2);
    expect(r.stderr).toBe(
      'sshscrape: "chek" is not a command; did you mean: sshscrape check hosts.yaml --direct\n',
    );
    expect(sshscrape("gen", "x.yaml").stderr).toContain("did you mean: sshscrape generate x.yaml");
    expect(sshscrape("keyscna", "my list.yaml").stderr).toContain(
      "did you mean: sshscrape keyscan 'my list.yaml'",
    );
  });

  it("a word nothing is close to lists the commands", () => {
    const r = sshscrape("frobnicate");
    expect(r.status).toBe(2);
    expect(r.stderr).toMatch(/^sshscrape: "frobnicate" is not a command; the commands are check, generate, /);
  });
});

describe("one error format: one unwrapped line per problem, no oclif box", () => {
  const bad = () =>
    list(
      "bad.yaml",
      "ssh:\n  key: { path: /k }\ntargets:\n  - host: a\n    exporters: [{ name: n, port: 70000 }]\n",
    );

  for (const command of ["generate", "check", "keyscan"])
    it(`${command}: a validation problem is the same clean line (exit 2)`, () => {
      const r = sshscrape(command, bad());
      expect(r.status).toBe(2);
      expect(r.stderr).toBe(
        `${join(work, "bad.yaml")}: targets[0].exporters[0].port: expected 1–65535 (line 5:34)\n`,
      );
    });

  it("command-line problems oclif finds are one line too, naming the command and --help (exit 2)", () => {
    for (const [args, line] of [
      [["check", "--bogus"], "sshscrape check: Nonexistent flag: --bogus (see `sshscrape check --help`)"],
      [
        ["check", "--concurrency", "x"],
        "sshscrape check: --concurrency: Expected an integer but received: x (see `sshscrape check --help`)",
      ],
      [["keyscan", "a", "b"], "sshscrape keyscan: Unexpected argument: b (see `sshscrape keyscan --help`)"],
      [
        ["generate", "--split"],
        "sshscrape generate: All of the following must be provided when using --split: --out (see `sshscrape generate --help`)",
      ],
    ] as const) {
      const r = sshscrape(...args);
      expect(r.status, args.join(" ")).toBe(2);
      expect(r.stderr).toBe(`${line}\n`);
    }
  });
});

describe("durations: every command reads them the same way", () => {
  it("a bare number is seconds and a duration is a duration, for check, keyscan and proxy alike", () => {
    const missing = join(work, "missing.yaml");
    // Past the flag parsing, each stops at the missing list: the duration itself was accepted.
    for (const command of ["check", "keyscan"])
      for (const timeout of ["5", "2.5", "10s", "1m30s"]) {
        const r = sshscrape(command, missing, "--timeout", timeout);
        expect(r.stderr, `${command} --timeout ${timeout}`).toContain("cannot read target list: ENOENT");
      }
    const proxy = sshscrape("proxy", "--config", missing, "--timeout", "5");
    expect(proxy.stderr).toContain("cannot read target list: ENOENT");
  });

  it("anything else is refused with the same message by every command (exit 2)", () => {
    for (const args of [
      ["check", "--timeout", "5x"],
      ["keyscan", "--timeout", "5x"],
      ["proxy", "--ssh.key-file", "/k", "--timeout", "5x"],
    ]) {
      const r = sshscrape(...args);
      expect(r.status, args.join(" ")).toBe(2);
      expect(r.stderr).toContain('--timeout: expected seconds or a duration like "10s", got "5x"');
    }
  });
});

describe("target-list messages", () => {
  it("type errors say what was expected and what was found", () => {
    const file = list(
      "types.yaml",
      'ssh:\n  key: { path: /k }\ndefaults: { scrapeTimeout: 10 }\ntargets:\n  - host: a\n    ssh: { port: "22022" }\n    exporters: [{ name: n, port: 9100 }]\n',
    );
    const r = sshscrape("generate", file);
    expect(r.status).toBe(2);
    expect(r.stderr).toContain(
      `${file}: defaults.scrapeTimeout: expected a duration like "10s" (30s, 1m30s, 500ms), got the number 10 (line 3:28)`,
    );
    expect(r.stderr).toContain(
      `${file}: targets[0].ssh.port: expected 1–65535, got the string "22022" (line 6:18)`,
    );
  });

  it("an unknown key is reported at the key itself, with the key it was probably meant to be", () => {
    const file = list(
      "typo.yaml",
      'ssh:\n  key: { path: /k }\ntargets:\n  - host: a\n    hostkeys: ["x"]\n    exporters: [{ name: n, port: 9100 }]\n',
    );
    const r = sshscrape("generate", file);
    expect(r.stderr).toBe(
      `${file}: targets[0].hostkeys: unknown key "hostkeys"; did you mean "hostKeys"? (line 5:5)\n`,
    );
    const far = list("far.yaml", "ssh:\n  key: { path: /k }\n  colour: blue\ntargets: []\n");
    expect(sshscrape("generate", far).stderr).toContain(
      'ssh.colour: unknown key "colour" (check the spelling; see `sshscrape schema`) (line 3:3)',
    );
  });

  it("a missing required key says it is missing", () => {
    const file = list(
      "missing-host.yaml",
      "ssh:\n  key: { path: /k }\ntargets:\n  - exporters: [{ name: n, port: 9100 }]\n",
    );
    const r = sshscrape("generate", file);
    expect(r.stderr).toContain(`${file}: targets[0].host: required but missing (expected a string)`);
  });
});
