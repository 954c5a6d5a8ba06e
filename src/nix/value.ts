/**
 * Renders plain data (strings, numbers, booleans, null, arrays, objects) as nixfmt-style (RFC 166) Nix:
 * two-space indent, every non-empty attribute set expanded, lists of more than one item expanded.
 * Used for data whose shape is not fixed (the proxy's own config, labels); every string and attribute
 * name goes through the escaping module.
 */
import { NixEscapeError, nixAttr, nixString } from "./escape.js";

export type NixData = string | number | boolean | null | NixData[] | { [key: string]: NixData | undefined };

export function nixValue(value: NixData, indent = 0): string {
  const pad = "  ".repeat(indent);
  if (typeof value === "string") return nixString(value);
  if (typeof value === "number") {
    // Nix integers are 64-bit; fractions would need a float literal the proxy never uses.
    if (!Number.isSafeInteger(value)) throw new NixEscapeError(`${value}: only integers are written to Nix`);
    return String(value);
  }
  if (typeof value === "boolean") return value ? "true" : "false";
  if (value === null) return "null";
  if (Array.isArray(value)) {
    if (value.length === 0) return "[ ]";
    const first = value[0] as NixData;
    if (value.length === 1 && (typeof first !== "object" || first === null)) return `[ ${nixValue(first)} ]`;
    return `[\n${value.map((v) => `${pad}  ${nixValue(v, indent + 1)}\n`).join("")}${pad}]`;
  }
  const keys = Object.keys(value)
    .filter((k) => value[k] !== undefined)
    .sort();
  if (keys.length === 0) return "{ }";
  return `{\n${keys.map((k) => `${pad}  ${nixAttr(k)} = ${nixValue(value[k] as NixData, indent + 1)};\n`).join("")}${pad}}`;
}
