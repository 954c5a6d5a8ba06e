/**
 * One row's world on loopback: real sshd processes, real HTTP exporters, a known_hosts file and a target list
 * written by the script, and the real proxy started on them. close() stops everything the row started, by PID.
 */
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir, userInfo } from "node:os";
import { join } from "node:path";
import type { ConfigInput } from "../../src/config/index.js";
import { type Exporter, type ExporterOptions, startExporter } from "../../test/helpers/exporter.js";
import { type Sshd, type SshdOptions, startSshd } from "../../test/helpers/sshd.js";
import { Checks, type RowResult } from "./harness.js";
import { signalTree } from "./proc.js";
import { type LaunchOptions, launchProxy, type ProxyProcess } from "./proxy.js";

type TargetInput = ConfigInput["targets"][number];
type ProxyInput = NonNullable<ConfigInput["proxy"]>;

export interface ProxyConfig {
  proxy?: ProxyInput;
  targets: TargetInput[];
  /** Private key the proxy logs in with; default: the first sshd's client key. */
  keyPath?: string;
}

/** Labs whose row is still running: stopOpenLabs() ends them when a row overruns its budget. */
const open = new Set<Lab>();

export class Lab {
  readonly dir = mkdtempSync(join(tmpdir(), "sshscrape-faults-"));
  readonly knownHostsPath = join(this.dir, "known_hosts");
  readonly configPath = join(this.dir, "targets.json");
  readonly user = userInfo().username;
  readonly sshds: Sshd[] = [];
  readonly exporters: Exporter[] = [];
  readonly proxies: ProxyProcess[] = [];
  private readonly closers: Array<() => Promise<void>> = [];
  private closing: Promise<void> | undefined;

  constructor() {
    open.add(this);
  }

  /** Once the lab is closed (row over, or stopped for overrunning), a row may start nothing more. */
  private assertOpen(): void {
    if (this.closing) throw new Error("the row's lab was closed (the row overran its budget)");
  }

  /** Starts an sshd; every sshd of a lab accepts the first one's client key, the key the proxy logs in with. */
  async sshd(options: SshdOptions = {}): Promise<Sshd> {
    this.assertOpen();
    const s = await startSshd(options);
    const first = this.sshds[0];
    if (first)
      s.setAuthorizedKeys(`${options.keyOptions ? `${options.keyOptions} ` : ""}${first.clientKeyPub}\n`);
    this.sshds.push(s);
    if (this.closing) await this.closeLate(() => s.stop());
    return s;
  }

  async exporter(options: ExporterOptions = {}): Promise<Exporter> {
    this.assertOpen();
    const e = await startExporter(options);
    this.exporters.push(e);
    if (this.closing) await this.closeLate(() => e.close());
    return e;
  }

  onClose(fn: () => Promise<void>): void {
    this.closers.push(fn);
  }

  writeKnownHosts(lines: string[]): void {
    writeFileSync(this.knownHostsPath, `${lines.join("\n")}\n`);
  }

  /** The standard single-host target: host 127.0.0.1 reached through `sshd`, one exporter entry per port. */
  static target(sshd: Sshd, ports: number[], host = "127.0.0.1"): TargetInput {
    return { host, ssh: { port: sshd.port }, exporters: ports.map((port, i) => ({ name: `e${i}`, port })) };
  }

  writeConfig(config: ProxyConfig, listenPort: number): void {
    const keyPath = config.keyPath ?? this.sshds[0]?.clientKeyPath;
    if (!keyPath) throw new Error("no private key: start an sshd first or pass keyPath");
    const file: ConfigInput = {
      proxy: { listen: `127.0.0.1:${listenPort}`, knownHostsFile: this.knownHostsPath, ...config.proxy },
      ssh: { user: this.user, key: { path: keyPath } },
      targets: config.targets,
    };
    writeFileSync(this.configPath, `${JSON.stringify(file, null, 2)}\n`);
  }

  /**
   * Writes the target list and starts `sshscrape proxy --config` with `--listen 127.0.0.1:0`: the flag
   * overrides the list's proxy.listen (which cannot say port 0), and the proxy logs the port it bound.
   */
  async proxy(config: ProxyConfig, launch: LaunchOptions = {}): Promise<ProxyProcess> {
    this.assertOpen();
    this.writeConfig(config, 8888);
    const p = await launchProxy(this.configPath, {
      ...launch,
      args: ["--listen", "127.0.0.1:0", ...(launch.args ?? [])],
    });
    this.proxies.push(p);
    if (this.closing) await this.closeLate(() => p.stop());
    return p;
  }

  /**
   * Stops sshd the way a crash or `kill` of the whole service does: the listener and every session process
   * die, so established SSH connections break (a plain SIGTERM to sshd leaves sessions running).
   */
  static killSessions(sshd: Sshd): void {
    const pid = sshd.pid();
    if (pid) signalTree(pid, "SIGKILL", false);
  }

  /** Every sshd process of `sshd` (listener and sessions), for SIGSTOP/SIGCONT. */
  static signalAll(sshd: Sshd, sig: NodeJS.Signals): number[] {
    const pid = sshd.pid();
    return pid ? signalTree(pid, sig) : [];
  }

  /** Something that was starting while the lab closed: stop it too, and tell the row it is over. */
  private async closeLate(stop: () => Promise<void>): Promise<never> {
    await stop();
    throw new Error("the row's lab was closed while this was starting (the row overran its budget)");
  }

  /** Stops everything the row started (idempotent: a stopped row's own finally calls it again). */
  close(): Promise<void> {
    this.closing ??= this.closeAll().finally(() => open.delete(this));
    return this.closing;
  }

  private async closeAll(): Promise<void> {
    for (const s of this.sshds) Lab.signalAll(s, "SIGCONT");
    const all = [
      ...this.proxies.map((p) => p.stop()),
      ...this.closers.map((c) => c()),
      ...this.exporters.map((e) => e.close()),
      ...this.sshds.map(async (s) => {
        Lab.killSessions(s);
        await s.stop();
      }),
    ];
    await Promise.allSettled(all);
    // Keys, known_hosts and configs are throwaway; a full run would otherwise leave ~150 directories in /tmp.
    for (const d of [this.dir, ...this.sshds.map((s) => s.dir)]) rmSync(d, { recursive: true, force: true });
  }
}

/** Counts lines in sshd's own log (LogLevel VERBOSE) matching `re`, e.g. /Connection from/. */
export function countLog(sshd: Sshd, re: RegExp): number {
  return sshd
    .output()
    .split("\n")
    .filter((l) => re.test(l)).length;
}

/** Runs one row's body in a fresh lab, closes the lab whatever happens, and returns the row's checks. */
export async function inLab(body: (lab: Lab, c: Checks) => Promise<void>): Promise<RowResult> {
  const c = new Checks();
  const lab = new Lab();
  try {
    await body(lab, c);
  } finally {
    await lab.close();
  }
  return c.result();
}

/** Closes every lab still open (a row that overran its budget) and waits until its processes are gone. */
export async function stopOpenLabs(): Promise<number> {
  const labs = [...open];
  await Promise.allSettled(labs.map((l) => l.close()));
  return labs.length;
}
