import { Flags, type Interfaces } from "@oclif/core";
import { isSshscrapeError } from "../../src/errors.js";
import { PROXY_FLAGS, type ProxyFlagSpec, type ProxyFlags } from "../../src/proxy/cli-args.js";
import { type ProxyResult, runProxy, startFailure } from "../../src/proxy/main.js";
import { SshscrapeCommand } from "../base.js";

export type { ProxyResult } from "../../src/proxy/main.js";

/** oclif's flag for one entry of PROXY_FLAGS (the table bin/run.js parses plain command lines with). */
function oclifFlag(spec: ProxyFlagSpec): Interfaces.Flag<unknown> {
  const common = {
    description: spec.description,
    ...(spec.char ? { char: spec.char as "v" } : {}),
    ...(spec.dependsOn ? { dependsOn: [...spec.dependsOn] } : {}),
  };
  switch (spec.type) {
    case "string":
      return Flags.string(common) as Interfaces.Flag<unknown>;
    case "boolean":
      return Flags.boolean(common) as Interfaces.Flag<unknown>;
    case "integer":
      return Flags.integer({ ...common, min: spec.min, max: spec.max }) as Interfaces.Flag<unknown>;
    case "option":
      return Flags.option({ ...common, options: spec.options })() as Interfaces.Flag<unknown>;
  }
}

export default class ProxyCommand extends SshscrapeCommand {
  static override summary = "Run the HTTP forward proxy Prometheus scrapes through (SSH to each target).";
  static override description =
    "With --config, the target list decides what may be proxied (default deny) and how each host is reached. " +
    "Without it, sshified's flags work verbatim: one user, port and key for all hosts, and any host in " +
    "known_hosts may be proxied on any port. SIGHUP reloads the target list, known_hosts and keys; SIGTERM stops " +
    "gracefully. GET /sd serves the list as Prometheus HTTP service discovery.";
  static override examples = [
    {
      command: "<%= config.bin %> proxy --config /etc/sshscrape/targets.yaml",
      description: "Proxy exactly the exporters in a target list.",
    },
    {
      command:
        "<%= config.bin %> proxy --proxy.listen-addr 127.0.0.1:8888 --ssh.user prometheus --ssh.key-file /etc/sshified/key",
      description: "Drop-in for sshified (same flags).",
    },
  ];

  static override flags = Object.fromEntries(
    Object.entries(PROXY_FLAGS as Record<string, ProxyFlagSpec>).map(([name, spec]) => [
      name,
      oclifFlag(spec),
    ]),
  );

  async run(): Promise<ProxyResult> {
    const { flags } = await this.parse(ProxyCommand);
    try {
      return await runProxy(flags as unknown as ProxyFlags);
    } catch (err) {
      if (!isSshscrapeError(err)) throw err;
      // One line per problem on stderr, unwrapped (oclif's error box wraps at the terminal width).
      this.logToStderr(startFailure(err.message));
      this.exit(err.exitCode);
    }
  }
}
