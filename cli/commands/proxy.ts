import { Flags } from "@oclif/core";
import { pino } from "pino";
import { loadConfig } from "../../src/config/index.js";
import { isSshscrapeError } from "../../src/errors.js";
import { type ProxyArgs, runtimeFromArgs } from "../../src/proxy/cli-args.js";
import { startProxy } from "../../src/proxy/index.js";
import { SshscrapeCommand } from "../base.js";

export interface ProxyResult {
  url: string;
  stopped: true;
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

  static override flags = {
    config: Flags.string({ description: "Target list (YAML or JSON), the same file `generate` reads." }),
    listen: Flags.string({
      description: "Listen address HOST:PORT (overrides proxy.listen; default 127.0.0.1:8888).",
    }),
    "key-file": Flags.string({
      description: "SSH private key (overrides ssh.key and $CREDENTIALS_DIRECTORY/ssh-key).",
    }),
    "known-hosts-file": Flags.string({ description: "known_hosts file (overrides proxy.knownHostsFile)." }),
    shard: Flags.integer({
      description: "Which shard of the list's `shards` this proxy serves (overrides shards.index).",
      min: 0,
      dependsOn: ["config"],
    }),
    "allow-non-loopback": Flags.boolean({
      description: "Allow a non-loopback listen address without proxy authentication.",
    }),
    "log-level": Flags.option({
      options: ["trace", "debug", "info", "warn", "error", "fatal"] as const,
      description: "Log level (JSON logs on stdout).",
    })(),
    "proxy.listen-addr": Flags.string({ description: "sshified: listen address (same as --listen)." }),
    "ssh.user": Flags.string({ description: "sshified: SSH user for every host." }),
    "ssh.key-file": Flags.string({ description: "sshified: SSH private key (same as --key-file)." }),
    "ssh.known-hosts-file": Flags.string({ description: "sshified: known_hosts file." }),
    "ssh.port": Flags.integer({ description: "sshified: SSH port for every host.", min: 1, max: 65535 }),
    timeout: Flags.string({
      description: "sshified: upper bound per request (seconds, or a duration like 10s).",
    }),
    "metrics.listen-addr": Flags.string({ description: "sshified: extra listener serving only /metrics." }),
    verbose: Flags.boolean({
      char: "v",
      description: "sshified: debug logging (same as --log-level debug).",
    }),
  };

  async run(): Promise<ProxyResult> {
    const { flags } = await this.parse(ProxyCommand);
    const logger = pino({
      name: "sshscrape",
      level: flags["log-level"] ?? (flags.verbose ? "debug" : "info"),
    });
    try {
      const args: ProxyArgs = {
        config: flags.config,
        listen: flags.listen ?? flags["proxy.listen-addr"],
        keyFile: flags["key-file"] ?? flags["ssh.key-file"],
        knownHostsFile: flags["known-hosts-file"] ?? flags["ssh.known-hosts-file"],
        allowNonLoopback: flags["allow-non-loopback"],
        user: flags["ssh.user"],
        port: flags["ssh.port"],
        timeout: flags.timeout,
        metricsListen: flags["metrics.listen-addr"],
        shard: flags.shard,
      };
      const runtime = runtimeFromArgs(args, (file) => loadConfig(file));
      const running = await startProxy(runtime, {
        logger,
        installSignalHandlers: true,
        // SIGHUP re-reads the target list too: added and removed targets take effect at once.
        reloadRuntime: args.config ? () => runtimeFromArgs(args, (file) => loadConfig(file)) : undefined,
      });
      await running.closed;
      logger.flush();
      return { url: running.url, stopped: true };
    } catch (err) {
      if (!isSshscrapeError(err)) throw err;
      // One line per problem on stderr, unwrapped (oclif's error box wraps at the terminal width).
      this.logToStderr(`sshscrape proxy: ${err.message}`);
      this.exit(err.exitCode);
    }
  }
}
