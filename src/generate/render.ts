/**
 * Handlebars, set up so templates cannot write an unescaped value: no HTML escaping (`noEscape`), missing
 * fields are errors (`strict`), and the only ways to print a value are the Nix helpers below.
 */
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import Handlebars from "handlebars";
import { nixAttr, nixComment, nixPath } from "../nix/escape.js";
import { type NixData, nixValue } from "../nix/value.js";
import { packageRoot } from "../version.js";

type Template = (context: object) => string;

let env: { hb: typeof Handlebars; cache: Map<string, Template>; dir: string } | undefined;

function setup() {
  if (env) return env;
  const hb = Handlebars.create();
  const scalar = (v: unknown) => {
    if (typeof v !== "string" && typeof v !== "number" && typeof v !== "boolean")
      throw new TypeError(`nix helper: expected a string, number or boolean, got ${JSON.stringify(v)}`);
    return nixValue(v);
  };
  hb.registerHelper("nix", scalar);
  hb.registerHelper("nixAttr", (v: unknown) => nixAttr(String(v)));
  hb.registerHelper("nixPath", (v: unknown) => nixPath(String(v)));
  // Structured data; the indent is the nesting level of the line the value starts on.
  hb.registerHelper("nixValue", (v: unknown, indent: unknown) =>
    nixValue(v as NixData, typeof indent === "number" ? indent : 0),
  );
  hb.registerHelper("comment", (v: unknown) => nixComment(String(v)));
  hb.registerHelper("eq", (a: unknown, b: unknown) => a === b);
  hb.registerHelper("any", (o: unknown) => typeof o === "object" && o !== null && Object.keys(o).length > 0);
  const dir = join(packageRoot(), "templates");
  for (const f of readdirSync(join(dir, "partials")))
    hb.registerPartial(f.replace(/\.hbs$/, ""), readFileSync(join(dir, "partials", f), "utf8"));
  env = { hb, cache: new Map(), dir };
  return env;
}

/** Renders `templates/<name>.hbs`; trailing blanks that partial indentation leaves on empty lines go. */
export function render(name: string, context: object): string {
  const { hb, cache, dir } = setup();
  let t = cache.get(name);
  if (!t) {
    t = hb.compile(readFileSync(join(dir, `${name}.hbs`), "utf8"), { noEscape: true, strict: true });
    cache.set(name, t);
  }
  // Safe for Nix: every string literal is single-line (newlines are escaped), so no "\n" ends inside one.
  // Not /$/m: that also matches before U+2028, which a string may hold (found by the injection test).
  return t(context).replace(/[ \t]+(?=\n|$)/g, "");
}
