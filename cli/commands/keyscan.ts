import { Args, Flags } from "@oclif/core";
import {
  describeHost,
  type KeyscanResult,
  keyscan,
  keyscanFailure,
  knownHostsLines,
} from "../../src/keyscan/index.js";
import { SshscrapeCommand } from "../base.js";
import { durationFlag, fail, stderrLine } from "../fail.js";

export default class Keyscan extends SshscrapeCommand {
  static override summary = "Record the SSH host keys of every target and jump host in the target list.";
  static override description =
    "Connects to each sshd of the list (targets on their ssh.port, jump hosts) and hangs up after the key " +
    "exchange, so no login is needed. New keys are added to `hostKeys` in the file, keeping its comments, " +
    "order and formatting. A key that differs from the recorded one is an error (exit 1, nothing written) " +
    "until you have checked the new fingerprint out of band and pass --update. Hosts that cannot be reached " +
    "are reported (exit 1); the keys of the others are still written.";
  static override examples = [
    { command: "<%= config.bin %> keyscan targets.yaml", description: "Record the keys of new targets." },
    {
      command: "<%= config.bin %> keyscan targets.yaml --print >> known_hosts",
      description: "Print known_hosts lines instead of editing the file.",
    },
    {
      command: "<%= config.bin %> keyscan targets.yaml --update",
      description: "Accept changed keys after a reinstall (check the fingerprints first).",
    },
    {
      command: "<%= config.bin %> keyscan targets.yaml --via-ssh-keyscan",
      description: "Use OpenSSH's ssh-keyscan instead of the built-in scanner.",
    },
  ];
  static override args = {
    file: Args.string({ description: "target list (YAML or JSON)", default: "sshscrape.yaml" }),
  };
  static override flags = {
    update: Flags.boolean({ description: "replace recorded keys that changed" }),
    print: Flags.boolean({ description: "print known_hosts lines to stdout; leave the file alone" }),
    "via-ssh-keyscan": Flags.boolean({ description: "scan with OpenSSH's ssh-keyscan (must be on PATH)" }),
    timeout: Flags.string({
      description: "per-connection timeout (connect + key exchange): seconds or a duration like 5s",
      default: "5s",
    }),
    concurrency: Flags.integer({
      description: "hosts scanned at once (each sees one connection at a time)",
      default: 32,
      min: 1,
    }),
  };
  static override enableJsonFlag = true;

  async run(): Promise<KeyscanResult> {
    const { args, flags } = await this.parse(Keyscan);
    let result: KeyscanResult;
    try {
      result = await keyscan({
        file: args.file,
        update: flags.update,
        dryRun: flags.print,
        viaSshKeyscan: flags["via-ssh-keyscan"],
        timeoutMs: durationFlag(flags.timeout, "--timeout"),
        concurrency: flags.concurrency,
      });
    } catch (err) {
      fail(this, err);
    }
    if (!this.jsonEnabled()) this.report(result, flags.print);
    const failure = keyscanFailure(result, flags.update);
    if (failure) {
      // With --json the result itself carries the failures; scripts still see exit 1.
      if (this.jsonEnabled()) process.exitCode = failure.exitCode;
      else fail(this, failure);
    }
    return result;
  }

  private report(result: KeyscanResult, print: boolean): void {
    if (print) for (const line of knownHostsLines(result)) this.log(line);
    const out = print ? stderrLine : (s: string) => this.log(s);
    for (const h of result.hosts) {
      // Every host appears, the unreachable ones too (why comes again in the error lines at the end).
      if (h.error) {
        out(`${describeHost(h)}  -  -  FAILED (${h.error.code})`);
        continue;
      }
      for (const k of h.keys) {
        const state = h.changed.some((c) => c.offered === k.key)
          ? "CHANGED"
          : h.added.some((a) => a.key === k.key)
            ? print
              ? "new"
              : "added"
            : "recorded";
        out(`${describeHost(h)}  ${k.type}  ${k.fingerprint}  ${state}`);
      }
      for (const line of h.notOffered)
        stderrLine(`warning: ${describeHost(h)} did not offer the recorded ${line.split(" ")[0]} key (kept)`);
    }
    if (result.written) {
      const n = result.hosts.reduce((sum, h) => sum + h.added.length + h.changed.length, 0);
      out(`${result.file}: recorded ${n} new or updated key${n === 1 ? "" : "s"}`);
    } else if (!print && result.ok) out(`${result.file}: all keys already recorded`);
  }
}
