// biome-ignore-all lint/suspicious/noTemplateCurlyInString: Nix-looking strings are scalars to compare, on purpose
import { readdirSync, readFileSync } from "node:fs";
import { join, resolve } from "node:path";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { parseDocument, stringify } from "yaml";
import { readFast } from "../../src/config/read-fast.js";

// The fast reader (js-yaml) serves valid lists; the Document parser (`yaml`) serves everything else. Both
// must read the same text as the same data, or a list would mean one thing when valid and another in an
// error message. These tests compare the two on real lists, on YAML's ambiguous scalars, and on random
// documents written in several styles.

const root = resolve(import.meta.dirname, "../..");

/** What the Document parser makes of `source`, or "error" when it rejects it. */
function documentRead(source: string): unknown {
  const doc = parseDocument(source, { uniqueKeys: true });
  return doc.errors.length > 0 ? "error" : doc.toJS({ maxAliasCount: 100 });
}

/**
 * Compares the two readers on `source`; returns false when the fast reader declined (then the Document parser
 * reads it, so there is nothing to disagree on). Callers check how often that happened, so a reader that
 * declines everything cannot pass by comparing nothing.
 */
function expectSameRead(source: string): boolean {
  const fast = readFast(source);
  if (!fast) return false;
  expect({ source, data: fast.data }).toEqual({ source, data: documentRead(source) });
  return true;
}

describe("fast target-list reader", () => {
  it("reads every example list as the Document parser does", () => {
    const files = readdirSync(join(root, "examples")).filter((f) => f.endsWith(".yaml"));
    expect(files.length).toBeGreaterThan(2);
    for (const f of files) {
      const source = readFileSync(join(root, "examples", f), "utf8");
      expect(expectSameRead(source), f).toBe(true);
    }
  });

  it("agrees on YAML's ambiguous scalars (1.2 core schema on both sides)", () => {
    const scalars = [
      "yes",
      "no",
      "on",
      "off",
      "y",
      "n",
      "true",
      "True",
      "TRUE",
      "false",
      "null",
      "Null",
      "NULL",
      "~",
      "",
      "0o17",
      "017",
      "0x1F",
      "0b101",
      "1_000",
      "1e3",
      "1.5e+3",
      "+1",
      "-0",
      "0.",
      ".5",
      ".inf",
      "-.Inf",
      ".NaN",
      "2001-12-14",
      "2001-12-14t21:59:43.10-05:00",
      "12:30:00",
      "9100",
      "65536",
      "'quoted'",
      '"a\\tb\\u00e9"',
      '"\\x41"',
      "!!str 9100",
      "!!int '42'",
      "a # comment",
      "a#b",
      "[a, b]",
      "{a: 1}",
      "|\n  line\n",
      ">-\n  a\n  b\n",
      "'it''s'",
      '"${x}"',
      "''${x}''",
      "ssh-ed25519 AAAAC3Nz+/=",
    ];
    const declined: string[] = [];
    for (const s of scalars) {
      if (!expectSameRead(`key: ${s}\n`)) declined.push(`key: ${s}`);
      if (!expectSameRead(`- ${s}\n`)) declined.push(`- ${s}`);
    }
    // The only scalar it declines is not YAML at all: a quoted empty string followed by more text.
    expect(declined).toEqual(["key: ''${x}''", "- ''${x}''"]);
    for (const d of declined) expect(documentRead(`${d}\n`)).toBe("error");
  });

  it("declines what only the Document parser handles safely: aliases, __proto__, several documents, indentation indicators", () => {
    expect(readFast("a: &x [1]\nb: *x\n")).toBeUndefined();
    expect(readFast('{"__proto__": {"polluted": 1}}')).toBeUndefined();
    expect(readFast("a: 1\n---\nb: 2\n")).toBeUndefined();
    expect(readFast("a: 1\na: 2\n")).toBeUndefined();
    expect(readFast("a: [1, 2\n")).toBeUndefined();
    // fast-check found it: js-yaml reads this top-level literal as " !", the Document parser as "!".
    expect(readFast("|1-\n !\n")).toBeUndefined();
    expect(readFast("a: >2\n   x\n")).toBeUndefined();
  });

  it("agrees on random documents in block, flow and JSON style", () => {
    const RUNS = 600;
    let compared = 0;
    const declined: string[] = [];
    const key = fc.oneof(
      fc.string({ maxLength: 8 }),
      fc.constantFrom("host", "port", "yes", "1", "null", "a b"),
    );
    const leaf = fc.oneof(
      fc.string({ maxLength: 12 }),
      fc.string({ unit: "grapheme", maxLength: 6 }),
      fc.integer(),
      fc.double({ noNaN: true, noDefaultInfinity: true }),
      fc.boolean(),
      fc.constant(null),
      fc.constantFrom("yes", "0o17", "1e3", "~", ".inf", "12:30", "- x", "a: b", "#c", "'", '"', "\\"),
    );
    const { value } = fc.letrec((tie) => ({
      value: fc.oneof(
        { depthSize: "small", withCrossShrink: true },
        leaf,
        fc.array(tie("value"), { maxLength: 4 }),
        fc.dictionary(key, tie("value"), { maxKeys: 4 }),
      ),
    }));
    fc.assert(
      fc.property(
        value,
        fc.constantFrom("block", "flow", "json"),
        fc.constantFrom("PLAIN", "QUOTE_DOUBLE", "QUOTE_SINGLE", "BLOCK_LITERAL"),
        (v, style, scalar) => {
          const source =
            style === "json"
              ? JSON.stringify(v, null, 1)
              : stringify(v, {
                  collectionStyle: style as "block" | "flow",
                  defaultStringType: scalar as "PLAIN",
                  aliasDuplicateObjects: false,
                });
          if (expectSameRead(source)) compared++;
          else declined.push(source);
        },
      ),
      { numRuns: RUNS },
    );
    // Valid YAML written by a serialiser: the fast reader declines only what it must (`__proto__` keys, and
    // block scalars with an indentation indicator, which the serialiser writes for text starting with a space).
    const mustDecline = (s: string) => s.includes("__proto__") || /(^|[\s:-])[|>][+-]?[1-9]/m.test(s);
    expect(declined.filter((s) => !mustDecline(s))).toEqual([]);
    expect(compared).toBeGreaterThan(RUNS / 2);
  });
});
