import type { Hook } from "@oclif/core";
import { closestCommand } from "../../src/suggest.js";

/**
 * `sshscrape chek hosts.yaml` → `sshscrape: "chek" is not a command; did you mean: sshscrape check hosts.yaml`.
 * With a space as topic separator oclif hands over the words before the first flag joined by ":" (`chek:hosts.yaml`)
 * and the rest as argv; both are put back so the suggestion is the user's own command line, corrected.
 * Exit 2 like every other usage error. A suggestion is never run unasked: a typo must not start a proxy.
 */
const hook: Hook.CommandNotFound = async function (opts) {
  const [typed = "", ...words] = opts.id.split(":");
  const bin = opts.config.bin;
  const commands = opts.config.commands.filter((c) => !c.hidden).flatMap((c) => [c.id, ...c.aliases]);
  const best = closestCommand(typed, commands);
  const rest = [...words, ...(opts.argv ?? [])].map(shellWord);
  const hint = best
    ? `did you mean: ${[bin, best, ...rest].join(" ")}`
    : `the commands are ${commands.sort().join(", ")} (\`${bin} --help\`)`;
  process.stderr.write(`${bin}: "${typed}" is not a command; ${hint}\n`);
  this.exit(2);
};

/** Quotes a word for a POSIX shell only when it needs it, so the suggestion can be pasted back. */
function shellWord(word: string): string {
  return /^[\w@%+=:,./-]+$/.test(word) ? word : `'${word.replaceAll("'", `'\\''`)}'`;
}

export default hook;
