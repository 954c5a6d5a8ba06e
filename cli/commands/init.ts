import { Args, Flags } from "@oclif/core";
import { type InitResult, parseExporter, runInit } from "../../src/init/index.js";
import { SshscrapeCommand } from "../base.js";
import { fail, stderrLine } from "../fail.js";

export default class Init extends SshscrapeCommand {
  static override summary = "Write a commented starter target list.";
  static override description =
    "Asks for hosts, exporters and where the SSH key lives when run on a terminal; takes flags otherwise " +
    "(anything not given gets a documented default). The result is validated like `generate` would, and an " +
    "existing file is never replaced without --force.";
  static override examples = [
    { command: "<%= config.bin %> init", description: "Answer a few questions; writes sshscrape.yaml." },
    {
      command:
        "<%= config.bin %> init hosts.yaml --host db1.example.org --host web1.example.org --exporter node:9100 --key agenix",
      description: "No questions: everything from flags.",
    },
    {
      command:
        "<%= config.bin %> init hosts.yaml --host db1.example.org --exporter node:9100 --key sops --public-key sshscrape_key.pub",
      description: "With the public half of a key pair made by ssh-keygen, for generate --remote.",
    },
  ];
  static override args = {
    file: Args.string({ description: "Where to write the target list.", default: "sshscrape.yaml" }),
  };
  static override flags = {
    host: Flags.string({ summary: "A host to scrape (repeatable).", multiple: true }),
    exporter: Flags.string({
      summary: "NAME:PORT of an exporter on every host (repeatable).",
      multiple: true,
    }),
    key: Flags.option({
      options: ["sops", "agenix", "path"] as const,
      summary: "Where the SSH private key comes from.",
    })(),
    "key-file": Flags.string({ summary: "The sops/agenix file, or the plain key path." }),
    "sops-key": Flags.string({ summary: "Key inside the sops file.", default: "sshscrape_ssh_key" }),
    "public-key": Flags.string({
      summary:
        "The key's public line, or the .pub file ssh-keygen wrote, for the targets' authorized_keys (default with --key path: KEY.pub beside --key-file).",
    }),
    "ssh-user": Flags.string({ summary: "Login user on the targets.", default: "sshscrape" }),
    "ssh-port": Flags.integer({ summary: "SSH port of the targets.", default: 22 }),
    listen: Flags.string({ summary: "HOST:PORT the proxy listens on.", default: "127.0.0.1:8888" }),
    force: Flags.boolean({ summary: "Replace FILE if it exists." }),
    "no-input": Flags.boolean({ summary: "Never ask, even on a terminal." }),
  };
  static override enableJsonFlag = true;

  async run(): Promise<InitResult> {
    const { args, flags } = await this.parse(Init);
    try {
      const result = await runInit({
        file: args.file,
        force: flags.force,
        interactive:
          Boolean(process.stdin.isTTY && process.stderr.isTTY) && !flags["no-input"] && !flags.json,
        known: {
          ...(flags.host ? { hosts: flags.host } : {}),
          ...(flags.exporter ? { exporters: flags.exporter.map(parseExporter) } : {}),
          ...(flags.key ? { keyKind: flags.key } : {}),
          ...(flags["key-file"] ? { keyFile: flags["key-file"] } : {}),
          ...(flags["public-key"] ? { publicKey: flags["public-key"] } : {}),
          sopsKey: flags["sops-key"],
          sshUser: flags["ssh-user"],
          sshPort: flags["ssh-port"],
          listen: flags.listen,
        },
      });
      if (!this.jsonEnabled())
        stderrLine(`wrote ${result.file} (${result.targets} target${result.targets === 1 ? "" : "s"})`);
      return result;
    } catch (err) {
      fail(this, err);
    }
  }
}
