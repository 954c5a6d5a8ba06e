import { createHash } from "node:crypto";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { nixEvalJson, nixString, repoRoot, run, scratchStore } from "./nix.js";

interface LockEntry {
  name?: string;
  version?: string;
  integrity?: string;
  resolved?: string;
  link?: boolean;
  inBundle?: boolean;
  [k: string]: unknown;
}
interface Lock {
  lockfileVersion: number;
  packages: Record<string, LockEntry>;
}

const lock: Lock = JSON.parse(readFileSync(join(repoRoot, "package-lock.json"), "utf8"));
const pkgJson = JSON.parse(readFileSync(join(repoRoot, "package.json"), "utf8"));
const deps = Object.entries(lock.packages).filter(([path]) => path !== "");

// The package's npmDeps, exactly as flake.nix builds it, with the stub nixpkgs (test/nix/stub-nixpkgs):
// its `nodejs` is the host's /usr (so the builder's npm is /usr/bin/npm) and `cacert` links Debian's bundle.
const npmDeps = `(let
  lib = import ${repoRoot}/test/nix/stub-nixpkgs/lib.nix;
  pkgs = import ${repoRoot}/test/nix/stub-nixpkgs/pkgs.nix { system = builtins.currentSystem; inherit lib; };
in (pkgs.callPackage ${repoRoot}/nix/package.nix { }).npmDeps)`;

// Builds go to a store of the test's own (./nix.ts: no nixbld group, no binary cache, no sandbox since the
// stub's host packages live outside the store); it starts empty, so every fetch below is real.
const store = scratchStore();
const build = [...store.args, "--no-out-link"];

const sri = (file: string) => `sha512-${createHash("sha512").update(readFileSync(file)).digest("base64")}`;

describe("package-lock.json as the source of Nix fixed-output derivations", () => {
  afterAll(() => store.remove());

  it("every dependency has a version and an sha512 integrity, and no registry URL", () => {
    expect(lock.lockfileVersion).toBeGreaterThanOrEqual(2);
    expect(deps.length).toBeGreaterThan(10);
    const problems = deps
      .filter(([, e]) => !e.link && !e.inBundle)
      .filter(([, e]) => !e.version || !/^sha512-[A-Za-z0-9+/]{86}==$/.test(e.integrity ?? "") || e.resolved)
      .map(([path]) => path);
    expect(problems).toEqual([]);
  });

  it("one fixed-output derivation per entry, whose outputHash is the entry's integrity", () => {
    const tarballs = nixEvalJson<Record<string, { hash: string; mode: string; spec: string }>>(
      `builtins.mapAttrs (_: t: { hash = t.outputHash; mode = t.outputHashMode; spec = t.pkgSpec; }) ${npmDeps}.tarballs`,
    );
    expect(Object.keys(tarballs).sort()).toEqual(deps.map(([path]) => path).sort());
    for (const [path, e] of deps) {
      const name = e.name ?? path.split("node_modules/").at(-1);
      expect(tarballs[path], path).toEqual({ hash: e.integrity, mode: "flat", spec: `${name}@${e.version}` });
    }
  });

  it("the assembled lockfile keeps every entry and points each at its store tarball, as importNpmLock does", () => {
    const out = nixEvalJson<{ lock: string; pkg: string; paths: Record<string, string> }>(
      `let d = ${npmDeps}; in { lock = d.packageLockJson; pkg = d.packageJson; paths = builtins.mapAttrs (_: t: t.outPath) d.tarballs; }`,
    );
    const assembled: Lock = JSON.parse(out.lock);
    const pkg = JSON.parse(out.pkg);
    expect(assembled.packages[""]).toEqual(lock.packages[""]);
    for (const [path, e] of deps) {
      const { funding: _funding, ...rest } = e;
      const got = assembled.packages[path];
      expect(got, path).toEqual({ ...rest, resolved: `file:${out.paths[path]}` });
      expect(got?.resolved, path).toMatch(/^file:\/nix\/store\/[a-z0-9]{32}-[A-Za-z0-9+._?=-]+\.tgz$/);
    }
    for (const field of ["dependencies", "devDependencies"] as const) {
      for (const name of Object.keys(pkgJson[field])) {
        expect(pkg[field][name], name).toBe(assembled.packages[`node_modules/${name}`]?.resolved);
      }
    }
    expect({ ...pkg, dependencies: pkgJson.dependencies, devDependencies: pkgJson.devDependencies }).toEqual(
      pkgJson,
    );
  });

  // Real fetches through npm's own default registry; Nix checks each result against the lock's integrity.
  const sample = ["node_modules/asn1", "node_modules/safer-buffer", "node_modules/@types/ssh2"];

  it("Nix builds sample dependencies with npm pack and accepts their hashes", () => {
    const attrs = sample.map((p) => `${npmDeps}.tarballs.${nixString(p)}`);
    const paths = nixEvalJson<string[]>(`map (t: t.outPath) [ ${attrs.join(" ")} ]`, store.args);
    for (const p of paths) expect(p.startsWith(`${store.storeDir}/`), p).toBe(true);

    const r = run("nix-build", [...build, "--max-jobs", "3", "-E", `[ ${attrs.join(" ")} ]`]);
    expect(r.status, r.stderr).toBe(0);
    expect(r.stdout.trim().split("\n")).toEqual(paths);
    sample.forEach((path, i) => {
      const file = paths[i] as string;
      expect(readFileSync(file).subarray(0, 2)).toEqual(Buffer.from([0x1f, 0x8b])); // gzip magic
      expect(sri(file), path).toBe(lock.packages[path]?.integrity);
    });
  }, 30_000);

  it("Nix rejects a tarball that does not match the lock's integrity", () => {
    // asn1's name and version with safer-buffer's integrity: npm fetches asn1, Nix must refuse it.
    const tampered = {
      name: "tamper-test",
      version: "0.0.0",
      packages: {
        "": { name: "tamper-test", version: "0.0.0" },
        "node_modules/asn1": {
          version: "0.2.6",
          integrity: lock.packages["node_modules/safer-buffer"]?.integrity,
        },
      },
    };
    const expr = `let
      lib = import ${repoRoot}/test/nix/stub-nixpkgs/lib.nix;
      pkgs = import ${repoRoot}/test/nix/stub-nixpkgs/pkgs.nix { system = builtins.currentSystem; inherit lib; };
      d = import ${repoRoot}/nix/npm-deps.nix { inherit lib; inherit (pkgs) runCommand nodejs cacert; } {
        package = { name = "tamper-test"; version = "0.0.0"; };
        packageLock = builtins.fromJSON ${nixString(JSON.stringify(tampered))};
      };
    in d.tarballs."node_modules/asn1"`;
    const r = run("nix-build", [...build, "-E", expr]);
    expect(r.status).not.toBe(0);
    expect(r.stderr).toMatch(/hash mismatch in fixed-output derivation/);
    expect(r.stderr).toContain(lock.packages["node_modules/asn1"]?.integrity?.slice(7, 30));
  }, 30_000);
});
