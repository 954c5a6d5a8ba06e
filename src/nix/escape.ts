/**
 * THE escaping module: every value and attribute name that ends up in generated Nix passes through here.
 * The rule is nixpkgs' own (`lib.strings.escapeNixString` / `escapeNixIdentifier`): JSON-quote the string,
 * then put `\` before every `$` so `${` can never start an interpolation. Nix string escapes are only
 * `\n \r \t \\ \" \$` (Nix manual, "String literals"); JSON's `\b \f \uXXXX` mean something else to Nix, so
 * strings that would need them are refused instead of silently changing.
 */
import { SshscrapeError } from "../errors.js";

/** A value cannot be written as a Nix string without changing its meaning. */
export class NixEscapeError extends SshscrapeError {
  readonly code = "NIX_UNESCAPABLE";
  override readonly exitCode = 2;
}

/** First character a Nix string cannot hold: a control character other than \n \r \t, or a lone surrogate. */
function unrepresentable(s: string): number | undefined {
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if ((c < 0x20 && c !== 0x0a && c !== 0x0d && c !== 0x09) || c === 0x7f) return c;
    if (c >= 0xd800 && c <= 0xdbff) {
      const next = s.charCodeAt(i + 1);
      if (next >= 0xdc00 && next <= 0xdfff) i++;
      else return c;
    } else if (c >= 0xdc00 && c <= 0xdfff) return c;
  }
  return undefined;
}

/** A double-quoted Nix string literal whose value is exactly `s`. */
export function nixString(s: string): string {
  if (typeof s !== "string") throw new NixEscapeError(`expected a string for Nix, got ${typeof s}`);
  const bad = unrepresentable(s);
  if (bad !== undefined)
    throw new NixEscapeError(
      `${JSON.stringify(s)}: contains U+${bad.toString(16).padStart(4, "0")}, which a Nix string cannot hold; remove it`,
    );
  return JSON.stringify(s).replaceAll("$", "\\$");
}

// Nix keywords (libexpr lexer): an attribute named like one must be quoted.
const KEYWORDS = new Set(["assert", "else", "if", "in", "inherit", "let", "or", "rec", "then", "with"]);
const IDENTIFIER = /^[a-zA-Z_][a-zA-Z0-9_'-]*$/;

/** An attribute name: bare when Nix's lexer reads it as an identifier, else a quoted string. */
export function nixAttr(name: string): string {
  return IDENTIFIER.test(name) && !KEYWORDS.has(name) ? name : nixString(name);
}

// Characters a Nix path literal may contain (libexpr lexer: PATH_CHAR = [a-zA-Z0-9._\-+]).
const PATH_LITERAL = /^(\/|\.\.?\/)?([a-zA-Z0-9._+-]+\/)*[a-zA-Z0-9._+-]+$/;

/**
 * A Nix path expression for `p` (absolute, or relative to the file the expression is written into).
 * A path literal when the lexer accepts one; otherwise `./. + "/rest"` so no character is ever spliced raw.
 */
export function nixPath(p: string): string {
  const rel = p.startsWith("/") || p.startsWith("./") || p.startsWith("../") ? p : `./${p}`;
  if (PATH_LITERAL.test(rel) && !rel.includes("//")) return rel;
  if (rel.startsWith("/")) return `/. + ${nixString(rel)}`;
  return `./. + ${nixString(`/${rel}`)}`;
}

/** Text for a `#` comment: kept as-is when it is plain printable text, JSON-quoted when it is not. */
export function nixComment(text: string): string {
  // biome-ignore lint/suspicious/noControlCharactersInRegex: a newline would end the comment
  if (!/[\u0000-\u001f\u007f\u2028\u2029]/.test(text)) return text;
  return JSON.stringify(text).replaceAll("\u2028", "\\u2028").replaceAll("\u2029", "\\u2029");
}
