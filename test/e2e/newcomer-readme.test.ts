/** The README reader the newcomer test depends on: it must run commands as a shell would, or refuse them. */
import { describe, expect, it } from "vitest";
import { closest, closestCommand, editDistance } from "../../src/suggest.js";
import { deploymentSteps, shellWords } from "./newcomer-readme.js";

describe("shellWords", () => {
  it("splits like sh for simple commands: quotes kept together, empty quotes an empty word, comments dropped", () => {
    expect(shellWords(`ssh-keygen -N "" -C 'a b' -f k   # the key`)).toEqual([
      "ssh-keygen",
      "-N",
      "",
      "-C",
      "a b",
      "-f",
      "k",
    ]);
    expect(shellWords("sshscrape init x.yaml --exporter node:9100")).toEqual([
      "sshscrape",
      "init",
      "x.yaml",
      "--exporter",
      "node:9100",
    ]);
  });

  it("refuses pipes, redirections, expansions and globs rather than run them differently from a shell", () => {
    for (const line of ["a | b", "a > f", "a && b", "echo $HOME", 'echo "$X"', "ls *.nix", "cd ~"])
      expect(() => shellWords(line), line).toThrow();
  });
});

describe("deploymentSteps", () => {
  it("keeps README's order: commands from sh blocks, deployments from numbered prose", () => {
    const section = [
      "```sh",
      "sshscrape init h.yaml",
      "```",
      "",
      "1. Deploy `out/remote.nix` to each target.",
      "2. Then:",
      "   ```sh",
      "   sshscrape check h.yaml",
      "   ```",
      "3. Deploy `out/default.nix` to the monitoring host,",
      "   then nixos-rebuild.",
    ].join("\n");
    expect(
      deploymentSteps(section).map((s) => (s.kind === "command" ? s.line : `${s.kind} ${s.file}`)),
    ).toEqual([
      "sshscrape init h.yaml",
      "deploy-targets out/remote.nix",
      "sshscrape check h.yaml",
      "deploy-monitoring out/default.nix",
    ]);
  });
});

describe("suggestions", () => {
  it("edit distance, case-insensitive", () => {
    expect(editDistance("chek", "check")).toBe(1);
    expect(editDistance("hostkeys", "hostKeys")).toBe(0);
    expect(editDistance("", "abc")).toBe(3);
  });

  it("a unique prefix or the nearest name within reach; nothing when nothing is close", () => {
    expect(closestCommand("gen", ["generate", "check"])).toBe("generate");
    expect(closestCommand("chekc", ["generate", "check"])).toBe("check");
    expect(closestCommand("frobnicate", ["generate", "check"])).toBeUndefined();
    expect(closest("prt", ["port", "user", "key"])).toBe("port");
  });
});
