/**
 * bin/run.js starts `sshscrape proxy` without oclif when the command line is plain and valid
 * (src/proxy/cli-args.ts parseProxyArgv over PROXY_FLAGS, the table the oclif command builds its flags from),
 * and hands everything else to oclif. What must hold: the lean path never accepts a command line oclif would
 * refuse, reads every flag as oclif does, and a user sees the same help and errors as before.
 */
import { execFileSync, spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Parser } from "@oclif/core";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import ProxyCommand from "../../cli/commands/proxy.js";
import { PROXY_FLAGS, type ProxyFlagSpec, parseProxyArgv } from "../../src/proxy/cli-args.js";
import { BIN, launchProxy } from "../helpers/proxy-cli.js";

const RECORDER = join(import.meta.dirname, "../helpers/record-resolutions.mjs");
const work = mkdtempSync(join(tmpdir(), "sshscrape-lean-entry-"));

/** The module specifiers process PID resolved, from a RECORDER file. */
function resolvedBy(record: string, pid: number | undefined): string[] {
  return readFileSync(record, "utf8")
    .split("\n")
    .filter((line) => line.startsWith(`${pid} `))
    .map((line) => line.slice(`${pid} `.length));
}

/** oclif's reading of ARGV with the command's flags: its flag values, or undefined when it refuses. */
async function oclifParse(argv: string[]): Promise<Record<string, unknown> | undefined> {
  try {
    const { flags } = await Parser.parse(argv, { flags: ProxyCommand.flags, strict: true });
    return flags;
  } catch {
    return undefined;
  }
}

/** Flag values without absent ones (oclif leaves an absent boolean undefined; the lean parser says false). */
function present(flags: Record<string, unknown>): Record<string, unknown> {
  return Object.fromEntries(Object.entries(flags).filter(([, v]) => v !== undefined && v !== false));
}

describe("the proxy's flags, parsed without oclif", () => {
  it("are the oclif command's flags, one table", () => {
    expect(Object.keys(ProxyCommand.flags).sort()).toEqual(Object.keys(PROXY_FLAGS).sort());
    const spec = PROXY_FLAGS as Record<string, ProxyFlagSpec>;
    for (const [name, flag] of Object.entries(ProxyCommand.flags)) {
      expect(flag.description, name).toBe(spec[name]?.description);
      expect(flag.type, name).toBe(spec[name]?.type === "boolean" ? "boolean" : "option");
    }
  });

  it("reads plain command lines as oclif does", async () => {
    const lines = [
      ["--config", "/etc/sshscrape/targets.yaml"],
      ["--config=/t.yaml", "--listen", "127.0.0.1:0", "--shard", "3", "--log-level", "debug"],
      ["--proxy.listen-addr", "127.0.0.1:8888", "--ssh.user", "prometheus", "--ssh.key-file", "/k", "-v"],
      [
        "--ssh.port",
        "65535",
        "--timeout",
        "10s",
        "--metrics.listen-addr",
        "127.0.0.1:9",
        "--allow-non-loopback",
      ],
      ["--key-file", "/k", "--known-hosts-file", "/kh", "--ssh.known-hosts-file", "/kh2", "--verbose"],
      [],
    ];
    for (const argv of lines) {
      const lean = parseProxyArgv(argv);
      expect(lean, argv.join(" ")).toBeDefined();
      expect(present(lean as Record<string, unknown>), argv.join(" ")).toEqual(
        present((await oclifParse(argv)) ?? {}),
      );
    }
  });

  it("declines every command line oclif refuses, and otherwise agrees with it", async () => {
    const spec = PROXY_FLAGS as Record<string, ProxyFlagSpec>;
    // Mostly well-formed flags (so many command lines are plain), with values oclif may refuse and some junk.
    const value = fc.constantFrom(
      "",
      "0",
      "1",
      "3",
      "-1",
      "65535",
      "65536",
      "0x10",
      "1e3",
      " 7",
      "07",
      "info",
      "/p",
    );
    const flag = fc
      .constantFrom(...Object.keys(spec))
      .chain(
        (name): fc.Arbitrary<string[]> =>
          spec[name]?.type === "boolean"
            ? fc.constantFrom([`--${name}`], [`--${name}=true`], name === "verbose" ? ["-v"] : [`--${name}`])
            : value.chain((v) => fc.constantFrom([`--${name}`, v], [`--${name}=${v}`])),
      );
    const junk = fc.constantFrom<string[]>(
      ["--bogus"],
      ["--help"],
      ["-h"],
      ["--no-verbose"],
      ["-x"],
      ["-vv"],
      ["--"],
      ["extra"],
    );
    const word = fc.oneof({ weight: 12, arbitrary: flag }, { weight: 1, arbitrary: junk });
    await fc.assert(
      fc.asyncProperty(fc.array(word, { maxLength: 5 }), async (words) => {
        const argv = words.flat();
        const lean = parseProxyArgv(argv);
        if (lean === undefined) return;
        const oclif = await oclifParse(argv);
        expect(oclif, argv.join(" ")).toBeDefined();
        expect(present(lean as Record<string, unknown>)).toEqual(present(oclif ?? {}));
      }),
      { numRuns: 2000 },
    );
  });
});

describe("bin/run.js proxy", () => {
  const key = join(work, "key");
  execFileSync("ssh-keygen", ["-q", "-t", "ed25519", "-N", "", "-f", key]);
  const knownHosts = join(work, "known_hosts");
  writeFileSync(knownHosts, "");

  it("runs the proxy without loading oclif for a plain command line", async () => {
    const record = join(work, "plain.txt");
    const proxy = await launchProxy(["--ssh.key-file", key, "--known-hosts-file", knownHosts], {
      NODE_OPTIONS: `--import=${RECORDER}`,
      RECORD_RESOLUTIONS: record,
    });
    const health = await fetch(`${proxy.url}/healthz`);
    expect(health.status).toBe(200);
    await proxy.proc.stop();
    expect(await proxy.exited).toBe(0);
    const resolved = resolvedBy(record, proxy.proc.child.pid);
    expect(resolved).toContain("../dist/src/proxy/main.js");
    expect(resolved.filter((s) => s.includes("@oclif/core"))).toEqual([]);
  });

  it("reads the target list in a child process: the proxy process never loads the schema (zod) or a YAML parser", async () => {
    const record = join(work, "config.txt");
    const list = join(work, "targets.yaml");
    const listText = (port: number) =>
      `proxy: { knownHostsFile: ${knownHosts} }\nssh: { user: u, key: { path: ${key} } }\n` +
      `targets: [{ host: 127.0.0.1, exporters: [{ name: node, port: ${port} }] }]\n`;
    writeFileSync(list, listText(9100));
    const proxy = await launchProxy(["--config", list], {
      NODE_OPTIONS: `--import=${RECORDER}`,
      RECORD_RESOLUTIONS: record,
    });
    expect(await (await fetch(`${proxy.url}/sd`)).text()).toContain("127.0.0.1:9100");
    // SIGHUP reads the list again (in a child process too): the new exporter is served at once.
    writeFileSync(list, listText(9200));
    const from = proxy.proc.output().length;
    proxy.proc.child.kill("SIGHUP");
    await proxy.logged("reloaded known_hosts, keys and credentials", from);
    expect(await (await fetch(`${proxy.url}/sd`)).text()).toContain("127.0.0.1:9200");
    await proxy.proc.stop();

    const pid = proxy.proc.child.pid;
    const own = resolvedBy(record, pid);
    const children = readFileSync(record, "utf8")
      .split("\n")
      .filter((line) => line && !line.startsWith(`${pid} `));
    expect(own.filter((s) => /zod|yaml/.test(s))).toEqual([]);
    // The recorder does see them where they are loaded: in the children, one per read of the list.
    expect(children.some((line) => line.endsWith(" zod"))).toBe(true);
    expect(new Set(children.map((line) => line.split(" ")[0])).size).toBe(2);
  });

  const run = (args: string[]) => {
    const record = join(work, `r-${Math.random()}.txt`);
    writeFileSync(record, "");
    const r = spawnSync(process.execPath, [BIN, "proxy", ...args], {
      env: {
        ...process.env,
        NODE_ENV: "production",
        NODE_OPTIONS: `--import=${RECORDER}`,
        RECORD_RESOLUTIONS: record,
      },
      encoding: "utf8",
      timeout: 30_000,
    });
    return {
      status: r.status,
      stdout: r.stdout,
      stderr: r.stderr,
      oclif: readFileSync(record, "utf8").includes("@oclif/core"),
    };
  };

  it("hands help and refused command lines to oclif: same help, same one-line errors", () => {
    const help = run(["--help"]);
    expect(help.status).toBe(0);
    expect(help.stdout).toContain("USAGE");
    expect(help.stdout).toContain("--ssh.known-hosts-file");
    expect(help.oclif).toBe(true);

    const cases: Array<[string[], string]> = [
      [["--bogus"], "sshscrape proxy: Nonexistent flag: --bogus (see `sshscrape proxy --help`)"],
      [
        ["--ssh.port", "70000"],
        "sshscrape proxy: --ssh.port: Expected an integer less than or equal to 65535",
      ],
      [
        ["--shard", "1"],
        "sshscrape proxy: All of the following must be provided when using --shard: --config",
      ],
      [
        ["--log-level", "loud"],
        "sshscrape proxy: Expected --log-level=loud to be one of: trace, debug, info",
      ],
      [["--config", "a", "--config", "b"], "sshscrape proxy: Flag --config can only be specified once"],
    ];
    for (const [args, line] of cases) {
      const r = run(args);
      expect(r.status, args.join(" ")).toBe(2);
      expect(r.stderr.trim().split("\n"), args.join(" ")).toHaveLength(1);
      expect(r.stderr, args.join(" ")).toContain(line);
      expect(r.oclif, args.join(" ")).toBe(true);
    }
  });

  it("reports a failed start as the command did: one line, the error's exit code, without oclif", () => {
    const missing = run(["--config", join(work, "nope.yaml")]);
    expect(missing.status).toBe(2);
    expect(missing.stderr).toBe(
      `sshscrape proxy: ${join(work, "nope.yaml")}: cannot read target list: ENOENT (no such file; create one with \`sshscrape init\`)\n`,
    );
    expect(missing.oclif).toBe(false);
  });
});
