/**
 * Debian's real `prometheus-node-exporter`, run as a plain process on loopback (never through systemd).
 */
import { portFromLog, type Started, start, waitFor } from "./processes.js";

export interface NodeExporter {
  host: string;
  port: number;
  url: string;
  pid(): number | undefined;
  output(): string;
  stop(): Promise<void>;
}

export interface NodeExporterOptions {
  host?: string;
  port?: number;
  /**
   * Collectors to enable. Only these run: the defaults include collectors that walk every mount and
   * network device, which costs time per scrape on a busy CI machine and adds nothing to these tests.
   * Pass `"defaults"` to keep node_exporter's own default set.
   */
  collectors?: string[] | "defaults";
  binary?: string;
}

export const NODE_EXPORTER_BINARY = "/usr/bin/prometheus-node-exporter";

export async function startNodeExporter(options: NodeExporterOptions = {}): Promise<NodeExporter> {
  const host = options.host ?? "127.0.0.1";
  const collectors = options.collectors ?? ["cpu", "meminfo", "loadavg", "time", "uname", "stat"];
  const hostPart = host.includes(":") ? `[${host}]` : host;
  // Port 0 unless asked: node_exporter logs the address it bound (`msg="Listening on" address=…`).
  const args = [`--web.listen-address=${hostPart}:${options.port ?? 0}`, "--log.level=info"];
  if (collectors !== "defaults") {
    args.push("--collector.disable-defaults", ...collectors.map((c) => `--collector.${c}`));
  }
  const proc: Started = start(options.binary ?? NODE_EXPORTER_BINARY, args);
  let port = options.port ?? 0;
  let url = "";
  try {
    port = await portFromLog(proc, /msg="Listening on" address=\S+:(\d+)/, "node_exporter");
    url = `http://${hostPart}:${port}/metrics`;
    await waitFor(`node_exporter on ${hostPart}:${port}`, async () => {
      // An exited process will never answer: stop polling and report its output below.
      if (proc.child.exitCode !== null || proc.child.signalCode !== null) return true;
      return (await fetch(url)).ok;
    });
    if (proc.child.exitCode !== null || proc.child.signalCode !== null)
      throw new Error(`exited (${proc.child.exitCode ?? proc.child.signalCode})`);
  } catch (err) {
    const output = proc.output();
    await proc.stop();
    throw new Error(`node_exporter did not start (${(err as Error).message}):\n${output}`);
  }
  return {
    host,
    port,
    url,
    pid: () => proc.child.pid,
    output: () => proc.output(),
    stop: () => proc.stop(),
  };
}
