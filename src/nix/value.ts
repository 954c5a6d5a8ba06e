/**
 * Renders plain data (strings, numbers, booleans, null, arrays, objects) as nixfmt-style (RFC 166) Nix:
 * two-space indent, every non-empty attribute set expanded, lists of more than one item expanded.
 * Used for data whose shape is not fixed (the proxy's own config, labels); every string and attribute
 * name goes through the escaping module.
 */
import { NixEscapeError, nixAttr, nixString } from "./escape.js";

/**
 * A Nix expression the generator writes itself (a secret's `config.sops.secrets."n".path`, a path
 * literal from `nixPath`): code, never data from the target list — build it only from escaped parts.
 */
export class NixExpr {
  constructor(readonly code: string) {}
}

export type NixData =
  | string
  | number
  | boolean
  | null
  | NixExpr
  | NixData[]
  | { [key: string]: NixData | undefined };

export function nixValue(value: NixData, indent = 0): string {
  const pad = "  ".repeat(indent);
  if (typeof value === "string") return nixString(value);
  if (typeof value === "number") {
    // Nix integers are 64-bit; fractions would need a float literal the proxy never uses.
    if (!Number.isSafeInteger(value)) throw new NixEscapeError(`${value}: only integers are written to Nix`);
    // `-5` is the negation operator applied to 5: inside a list it would be parsed as subtraction from the
    // element before it, so a negative number is always parenthesised.
    return value < 0 ? `(${value})` : String(value);
  }
  if (typeof value === "boolean") return value ? "true" : "false";
  if (value === null) return "null";
  if (value instanceof NixExpr) return value.code;
  if (Array.isArray(value)) {
    if (value.length === 0) return "[ ]";
    const first = value[0] as NixData;
    if (value.length === 1 && (typeof first !== "object" || first === null || first instanceof NixExpr))
      return `[ ${nixValue(first)} ]`;
    return `[\n${value.map((v) => `${pad}  ${nixValue(v, indent + 1)}\n`).join("")}${pad}]`;
  }
  const keys = Object.keys(value)
    .filter((k) => value[k] !== undefined)
    .sort();
  if (keys.length === 0) return "{ }";
  return `{\n${keys.map((k) => `${pad}  ${nixAttr(k)} = ${nixValue(value[k] as NixData, indent + 1)};\n`).join("")}${pad}}`;
}
