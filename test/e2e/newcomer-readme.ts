/**
 * The README's "A real deployment" section as a newcomer reads it: the shell commands of its code blocks, in
 * order, and the deployment steps its prose asks for (deploy remote.nix to the targets, default.nix to the
 * monitoring host). Nothing here knows what the commands are; the test runs whatever the README prints.
 */
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { REPO_ROOT } from "./proxy-process.js";

export type Step =
  | { kind: "command"; line: string; argv: string[] }
  | { kind: "deploy-targets"; file: string; text: string }
  | { kind: "deploy-monitoring"; file: string; text: string };

export const SECTION = "## A real deployment";

export function readmeSection(readme = readFileSync(join(REPO_ROOT, "README.md"), "utf8")): string {
  const start = readme.indexOf(`\n${SECTION}\n`);
  if (start < 0) throw new Error(`README.md has no "${SECTION}" section`);
  const rest = readme.slice(start + SECTION.length + 2);
  const end = rest.search(/\n## /);
  return end < 0 ? rest : rest.slice(0, end);
}

/** Splits one command line like a POSIX shell would for simple commands; refuses anything more. */
export function shellWords(line: string): string[] {
  const words: string[] = [];
  let word: string | undefined;
  for (let i = 0; i < line.length; i++) {
    const ch = line[i] as string;
    if (ch === "'" || ch === '"') {
      const close = line.indexOf(ch, i + 1);
      if (close < 0) throw new Error(`unterminated ${ch} in: ${line}`);
      const inner = line.slice(i + 1, close);
      if (ch === '"' && /[$`\\]/.test(inner)) throw new Error(`expansion inside "…" in: ${line}`);
      word = (word ?? "") + inner;
      i = close;
    } else if (ch === " " || ch === "\t") {
      if (word !== undefined) words.push(word);
      word = undefined;
    } else if (ch === "#" && word === undefined) {
      break; // a comment
    } else if (/[|&;<>()$`\\*?~]/.test(ch)) {
      throw new Error(`the newcomer test runs simple commands only; "${ch}" in: ${line}`);
    } else word = (word ?? "") + ch;
  }
  if (word !== undefined) words.push(word);
  return words;
}

/** Commands (from ```sh blocks) and deployment steps (from prose), in the order the README gives them. */
export function deploymentSteps(section = readmeSection()): Step[] {
  const steps: Step[] = [];
  let inSh = false;
  let prose: string[] = [];
  const flushProse = () => {
    const text = prose.join(" ");
    prose = [];
    const deploy = /Deploy `([^`]+\.nix)`/.exec(text);
    if (!deploy) return;
    const file = deploy[1] as string;
    if (file.endsWith("remote.nix")) steps.push({ kind: "deploy-targets", file, text });
    else steps.push({ kind: "deploy-monitoring", file, text });
  };
  for (const raw of section.split("\n")) {
    const line = raw.trim();
    if (line.startsWith("```")) {
      if (!inSh) flushProse();
      inSh = inSh ? false : line === "```sh" || line === "```bash";
      continue;
    }
    if (inSh) {
      if (line) steps.push({ kind: "command", line, argv: shellWords(line) });
    } else if (/^\d+\.\s/.test(line) || line === "") {
      flushProse();
      if (line) prose.push(line);
    } else prose.push(line);
  }
  flushProse();
  return steps;
}
