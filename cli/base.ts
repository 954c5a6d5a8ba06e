import { Command, Errors } from "@oclif/core";
import { isSshscrapeError } from "../src/errors.js";
import { fail, printed, stderrLine } from "./fail.js";

/**
 * Every command's base: problems oclif finds while parsing the command line (an unknown flag, a value that
 * is not an integer, one argument too many) are printed like every other sshscrape problem — one unwrapped
 * line, exit 2 — instead of oclif's ` ›   Error:` box followed by the whole help text.
 */
export abstract class SshscrapeCommand extends Command {
  protected override async catch(err: Error & { exitCode?: number }): Promise<unknown> {
    if (isSshscrapeError(err)) {
      if (!this.jsonEnabled()) fail(this, err);
      // oclif's JSON error object, as fail() gives it inside run().
      process.exitCode = err.exitCode;
      return super.catch(new Errors.CLIError(err.message, { exit: err.exitCode, code: err.code }));
    }
    if (!this.jsonEnabled() && isUsageProblem(err)) {
      const text = err.message
        .split("\n")
        .map((line) => line.trim())
        .filter((line) => line && !line.startsWith("See more help"))
        .join(" ")
        .replace(/^The following errors? occurred: /, "")
        .replace(/^Parsing (--[\w.-]+) /, "$1: ");
      const command = `${this.config.bin} ${this.id}`;
      const line = `${command}: ${text} (see \`${command} --help\`)`;
      stderrLine(line);
      throw printed(line, 2, "USAGE");
    }
    return super.catch(err);
  }
}

/** oclif's own command-line problems: its parse errors, and flag values its parsers refused (both exit 2). */
function isUsageProblem(err: Error): boolean {
  if (!(err instanceof Errors.CLIError) || err instanceof Errors.ExitError) return false;
  if (err.skipOclifErrorHandling) return false;
  return "parse" in err || err.oclif.exit === 2;
}
