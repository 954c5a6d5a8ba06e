import { readFileSync } from "node:fs";
import { Args, Flags } from "@oclif/core";
import { CheckFailedError, type CheckResult, check } from "../../src/check/index.js";
import { formatFailures, formatTable, summary } from "../../src/check/report.js";
import { UsageError } from "../../src/errors.js";
import { SshscrapeCommand } from "../base.js";
import { durationFlag, fail, stderrLine } from "../fail.js";

export default class Check extends SshscrapeCommand {
  static override summary = "Scrape every exporter in the target list through the proxy and report.";
  static override description =
    "For each exporter: HTTP status, latency, bytes and the number of samples, fetched the way Prometheus " +
    "would (absolute-form GET through the proxy, or CONNECT and TLS for https exporters). By default it goes " +
    "through the running proxy at the list's proxy.listen; --direct starts the proxy in-process on a free " +
    "loopback port instead, so you can check a list before deploying it. Exits 1 if any exporter fails, " +
    "naming each with its cause (the proxy's error text: which phase failed and why).";
  static override examples = [
    { command: "<%= config.bin %> check targets.yaml", description: "Through the proxy at proxy.listen." },
    {
      command: "<%= config.bin %> check targets.yaml --direct --key-file ~/.ssh/sshscrape",
      description: "Straight over SSH (an in-process proxy), with a key from your machine.",
    },
    {
      command: "<%= config.bin %> check targets.yaml --json | jq '.exporters[] | select(.ok | not)'",
      description: "The failures, for scripts.",
    },
  ];
  static override args = {
    file: Args.string({ description: "target list (YAML or JSON)", default: "sshscrape.yaml" }),
  };
  static override flags = {
    proxy: Flags.string({
      description: "proxy URL (default: http:// + the list's proxy.listen)",
      exclusive: ["direct"],
    }),
    direct: Flags.boolean({
      description: "start the proxy in-process on a free loopback port and go through it",
    }),
    "key-file": Flags.string({
      description: "with --direct: SSH private key (default: the list's ssh.key)",
      dependsOn: ["direct"],
    }),
    "known-hosts-file": Flags.string({
      description: "with --direct: known_hosts file (default: proxy.knownHostsFile; hostKeys count too)",
      dependsOn: ["direct"],
    }),
    timeout: Flags.string({
      description: "per exporter: seconds or a duration like 10s (default: its scrapeTimeout, else 10s)",
    }),
    concurrency: Flags.integer({ description: "exporters checked at once", default: 16, min: 1 }),
    ca: Flags.string({ description: "CA certificate (PEM) for https exporters" }),
    insecure: Flags.boolean({ description: "do not verify https exporters' certificates" }),
  };
  static override enableJsonFlag = true;

  async run(): Promise<CheckResult> {
    const { args, flags } = await this.parse(Check);
    const progress = process.stderr.isTTY && !this.jsonEnabled();
    let result: CheckResult;
    try {
      result = await check({
        file: args.file,
        proxyUrl: flags.proxy,
        direct: flags.direct,
        keyFile: flags["key-file"],
        knownHostsFile: flags["known-hosts-file"],
        timeoutMs: flags.timeout === undefined ? undefined : durationFlag(flags.timeout, "--timeout"),
        concurrency: flags.concurrency,
        tls: { ca: flags.ca ? this.readCa(flags.ca) : undefined, insecure: flags.insecure },
        onProgress: progress
          ? (done, total) => process.stderr.write(`\rchecked ${done}/${total}`)
          : undefined,
      });
    } catch (err) {
      fail(this, err);
    } finally {
      if (progress) process.stderr.write("\r\x1b[K");
    }
    if (!this.jsonEnabled()) {
      for (const line of formatTable(result)) this.log(line);
      for (const line of formatFailures(result)) stderrLine(line);
    }
    if (!result.ok) {
      // With --json the result carries every failure; scripts still see exit 1.
      if (this.jsonEnabled()) process.exitCode = 1;
      else fail(this, new CheckFailedError(summary(result)));
    } else if (!this.jsonEnabled()) stderrLine(summary(result));
    return result;
  }

  private readCa(path: string): string {
    try {
      return readFileSync(path, "utf8");
    } catch (err) {
      throw new UsageError(`--ca: cannot read ${path}: ${(err as NodeJS.ErrnoException).code ?? err}`);
    }
  }
}
