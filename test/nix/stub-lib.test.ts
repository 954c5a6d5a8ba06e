/**
 * The stub module system (test/nix/stub-nixpkgs/lib.nix) against what nixpkgs' lib does, for every feature
 * sshscrape's modules and the NixOS stand-in use. The expected values are nixpkgs' behaviour, written out;
 * with SSHSCRAPE_NIXPKGS_LIB=/path/to/nixpkgs/lib the same cases run on the real lib, so a case that passes
 * on both shows the stub agrees with it.
 */
import { describe, expect, it } from "vitest";
import { nixEval, repoRoot } from "./nix.js";

const realLib = process.env.SSHSCRAPE_NIXPKGS_LIB;
const libExpr = realLib ? `import ${realLib}` : `import ${repoRoot}/test/nix/stub-nixpkgs/lib.nix`;

/** `(evalModules { modules = [ … ]; }).config.x`, with `lib` in scope. */
function evalX(modules: string): { ok: true; value: unknown } | { ok: false; error: string } {
  const r = nixEval(`let lib = ${libExpr}; in (lib.evalModules { modules = [ ${modules} ]; }).config.x`);
  return r.status === 0 ? { ok: true, value: JSON.parse(r.stdout) } : { ok: false, error: r.stderr };
}
const value = (modules: string) => {
  const r = evalX(modules);
  if (!r.ok) throw new Error(r.error);
  return r.value;
};
const error = (modules: string) => {
  const r = evalX(modules);
  if (r.ok) throw new Error(`evaluated to ${JSON.stringify(r.value)}, expected an error`);
  return r.error;
};
const opt = (type: string, extra = "") => `{ options.x = lib.mkOption { type = ${type}; ${extra} }; }`;

describe(`the module system (${realLib ? "nixpkgs lib" : "stub lib"})`, () => {
  it("lines: mkBefore, default order and mkAfter sort the definitions, whatever the module order", () => {
    expect(
      value(
        `${opt("lib.types.lines")} { x = lib.mkAfter "last"; } { x = "middle"; } { x = lib.mkBefore "first"; }`,
      ),
    ).toBe("first\nmiddle\nlast");
    expect(
      value(`${opt("lib.types.lines")} { x = lib.mkOrder 0 "zero"; } { x = lib.mkOrder 1500 "after"; }`),
    ).toBe("zero\nafter");
  });

  it("priorities: mkForce beats a plain definition, which beats mkDefault and the option default", () => {
    expect(value(`${opt("lib.types.str", 'default = "d";')} { x = lib.mkDefault "a"; }`)).toBe("a");
    expect(value(`${opt("lib.types.str", 'default = "d";')} { x = lib.mkDefault "a"; } { x = "b"; }`)).toBe(
      "b",
    );
    expect(value(`${opt("lib.types.str")} { x = "b"; } { x = lib.mkForce "c"; }`)).toBe("c");
  });

  it("str: equal definitions merge, different ones conflict", () => {
    expect(value(`${opt("lib.types.str")} { x = "a"; } { x = "a"; }`)).toBe("a");
    expect(error(`${opt("lib.types.str")} { x = "a"; } { x = "b"; }`)).toMatch(
      /The option `x' has conflicting definition values/,
    );
  });

  it("passwdEntry refuses a colon or a newline with NixOS' wording", () => {
    expect(error(`${opt("lib.types.passwdEntry lib.types.str")} { x = "a:b"; }`)).toMatch(
      /A definition for option `x' is not of type `string, not containing newlines or colons'/,
    );
    expect(value(`${opt("lib.types.passwdEntry lib.types.str")} { x = "a, b"; }`)).toBe("a, b");
  });

  it("attrsOf: mkIf above the set is pushed into each attribute; a false one leaves it out", () => {
    expect(
      value(
        `${opt("lib.types.attrsOf lib.types.int")} { x = lib.mkIf true { a = 1; }; } { x = lib.mkIf false { b = 2; }; } { x.c = lib.mkIf false 3; }`,
      ),
    ).toEqual({ a: 1 });
  });

  it("listOf concatenates, in nixpkgs' module order; nullOr refuses null beside a value", () => {
    // lib/modules.nix: modules breadth first (genericClosure), definitions in the reverse of that order.
    expect(value(`${opt("lib.types.listOf lib.types.int")} { x = [ 1 ]; } { x = [ 2 3 ]; }`)).toEqual([
      2, 3, 1,
    ]);
    expect(
      value(
        `${opt("lib.types.listOf lib.types.str")} { imports = [ { x = [ "i1" ]; imports = [ { x = [ "i11" ]; } ]; } { x = [ "i2" ]; } ]; x = [ "top" ]; } { x = [ "b" ]; }`,
      ),
    ).toEqual(["i11", "i2", "i1", "b", "top"]);
    expect(error(`${opt("lib.types.nullOr lib.types.int")} { x = null; } { x = 1; }`)).toMatch(
      /defined both null and not null/,
    );
  });

  it("an undeclared option is an error, also inside a submodule", () => {
    expect(error(`${opt("lib.types.int")} { x = 1; y = 2; }`)).toMatch(/The option `y' does not exist/);
    expect(
      error(
        `${opt("lib.types.submodule { options.a = lib.mkOption { type = lib.types.int; }; }")} { x.b = 1; }`,
      ),
    ).toMatch(/The option `x\.b' does not exist/);
  });

  it("submodule: a freeformType takes undeclared attributes, typed", () => {
    const sub = `lib.types.submodule { freeformType = lib.types.attrsOf lib.types.int; options.a = lib.mkOption { type = lib.types.str; default = "d"; }; }`;
    expect(value(`${opt(sub)} { x.b = 2; }`)).toEqual({ a: "d", b: 2 });
    expect(error(`${opt(sub)} { x.b = "no"; }`)).toMatch(/is not of type `signed integer'/);
  });

  it("apply transforms the merged value", () => {
    expect(
      value(`${opt("lib.types.listOf lib.types.int", "apply = l: builtins.length l;")} { x = [ 1 2 ]; }`),
    ).toBe(2);
  });

  it("mkAliasOptionModule: definitions of the alias reach the target, and the alias reads it", () => {
    const r = nixEval(`let lib = ${libExpr}; c = (lib.evalModules { modules = [
      { options.target = lib.mkOption { type = lib.types.attrsOf lib.types.int; default = { }; }; }
      (lib.mkAliasOptionModule [ "alias" ] [ "target" ])
      { alias.a = 1; } { target.b = 2; }
    ]; }).config; in { inherit (c) alias target; }`);
    expect(r.status, r.stderr).toBe(0);
    expect(JSON.parse(r.stdout)).toEqual({ alias: { a: 1, b: 2 }, target: { a: 1, b: 2 } });
  });
});
