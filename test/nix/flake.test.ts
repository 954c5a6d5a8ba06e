import { execFileSync } from "node:child_process";
import { readFileSync, rmSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { flakeCopy, nixCli, repoRoot, run, stubbed } from "./nix.js";

const systems = ["x86_64-linux", "aarch64-linux", "x86_64-darwin", "aarch64-darwin"];
const linux = ["x86_64-linux", "aarch64-linux"];

describe("Nix files", () => {
  it("every .nix file in the repository parses", () => {
    const files = execFileSync("git", ["ls-files", "-co", "--exclude-standard", "*.nix"], {
      cwd: repoRoot,
      encoding: "utf8",
    })
      .split("\n")
      .filter(Boolean);
    expect(files).toEqual(expect.arrayContaining(["flake.nix", "nix/module.nix", "nix/target.nix"]));
    for (const f of files) {
      const r = run("nix-instantiate", ["--parse", f]);
      expect(r.stderr, f).toBe("");
      expect(r.status, `${f}: ${r.stderr}`).toBe(0);
    }
  });

  it("flake.lock pins only nixpkgs, to a real nixos-25.11 revision", () => {
    const lock = JSON.parse(readFileSync(join(repoRoot, "flake.lock"), "utf8"));
    expect(lock.nodes.root.inputs).toEqual({ nixpkgs: "nixpkgs" });
    expect(Object.keys(lock.nodes).sort()).toEqual(["nixpkgs", "root"]);
    expect(lock.nodes.nixpkgs.locked).toMatchObject({
      type: "github",
      owner: "NixOS",
      repo: "nixpkgs",
      rev: "10e7ad5bbcb421fe07e3a4ad53a634b0cd57ffac",
      narHash: "sha256-vl3dkhlE5gzsItuHoEMVe+DlonsK+0836LIRDnm6MXQ=",
    });
    expect(lock.nodes.nixpkgs.original).toMatchObject({ ref: "nixos-25.11" });
  });
});

describe("flake outputs (offline, nixpkgs replaced by test/nix/stub-nixpkgs)", () => {
  let dir: string;
  beforeAll(() => {
    dir = flakeCopy();
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it("nix flake show lists packages, overlay, modules, app, shell, formatter and checks", () => {
    const r = nixCli(["flake", "show", "--json", ...stubbed, "."], dir);
    expect(r.status, r.stderr).toBe(0);
    const show = JSON.parse(r.stdout);
    for (const s of systems) {
      expect(Object.keys(show.packages[s]).sort(), s).toEqual(["default", "sshscrape"]);
      expect(show.packages[s].default).toMatchObject({ type: "derivation", name: "sshscrape-0.1.0" });
      expect(show.apps[s].default.type).toBe("app");
      expect(show.devShells[s].default.type).toBe("derivation");
      expect(show.formatter[s].type).toBe("derivation");
      expect(show.checks[s].package).toMatchObject({ name: "sshscrape-0.1.0" });
    }
    for (const s of linux) expect(show.checks[s].vm).toMatchObject({ name: "vm-test-run-sshscrape" });
    expect(Object.keys(show.nixosModules).sort()).toEqual(["default", "sshscrape", "target"]);
    expect(show.overlays.default.type).toBe("nixpkgs-overlay");
  });

  it("nix flake check --no-build passes: every output evaluates, the VM test's nodes pass their assertions", () => {
    const r = nixCli(["flake", "check", "--no-build", ...stubbed, "."], dir);
    expect(r.stderr).not.toMatch(/error/);
    expect(r.status, r.stderr).toBe(0);
  });

  it("the app runs the package's sshscrape binary", () => {
    const r = nixCli(["eval", "--json", ...stubbed, ".#apps.x86_64-linux.default.program"], dir);
    expect(r.status, r.stderr).toBe(0);
    expect(JSON.parse(r.stdout)).toMatch(/^\/nix\/store\/[a-z0-9]{32}-sshscrape-0\.1\.0\/bin\/sshscrape$/);
  });

  it("the overlay and the modules are system-independent and use nix/package.nix and nix/*.nix", () => {
    const evalApply = (attr: string, apply: string) => {
      const r = nixCli(["eval", "--json", ...stubbed, attr, "--apply", apply], dir);
      expect(r.status, r.stderr).toBe(0);
      return JSON.parse(r.stdout);
    };
    const source = /^\/nix\/store\/[a-z0-9]{32}-source/;
    const overlay = evalApply(".#overlays.default", "o: o { callPackage = p: _: toString p; } { }");
    expect(Object.keys(overlay)).toEqual(["sshscrape"]);
    expect(overlay.sshscrape.replace(source, "")).toBe("/nix/package.nix");
    const modules = evalApply(".#nixosModules", "ms: builtins.mapAttrs (_: m: map toString m.imports) ms");
    const rel = (l: string[]) => l.map((p) => p.replace(source, ""));
    expect(rel(modules.default)).toEqual(["/nix/module.nix"]);
    expect(rel(modules.sshscrape)).toEqual(["/nix/module.nix"]);
    expect(rel(modules.target)).toEqual(["/nix/target.nix"]);
  });
});
