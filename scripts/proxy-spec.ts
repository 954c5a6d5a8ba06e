/**
 * The `--proxy "NAME [NODE-ARGS…] [VAR=VALUE…] [proxy.KEY=JSON…] BIN"` specs of scripts/bench-ab.ts and
 * scripts/gc-probe.ts: one proxy process to start per spec.
 */
import { writeFileSync } from "node:fs";
import { join } from "node:path";

export interface ProxySpec {
  name: string;
  /** The build's bin/run.js. */
  bin: string;
  nodeArgs: string[];
  /** `NAME=VALUE` words: environment variables for this build's process only. */
  env: Record<string, string>;
  /** `proxy.KEY=JSON` words: settings of the proxy section for this build only. */
  proxySettings: Record<string, unknown>;
}

const SETTING = /^proxy\.([A-Za-z]+)=(.*)$/;
const ENV = /^[A-Za-z_][A-Za-z0-9_]*=/;

export function parseProxySpec(spec: string): ProxySpec {
  const parts = spec.trim().split(/\s+/);
  const name = parts.shift() as string;
  const bin = parts.pop() as string;
  const env: Record<string, string> = {};
  const proxySettings: Record<string, unknown> = {};
  const nodeArgs: string[] = [];
  for (const p of parts) {
    const s = SETTING.exec(p);
    if (s) proxySettings[s[1] as string] = JSON.parse(s[2] as string);
    else if (ENV.test(p)) env[p.slice(0, p.indexOf("="))] = p.slice(p.indexOf("=") + 1);
    else nodeArgs.push(p);
  }
  return { name, bin, nodeArgs, env, proxySettings };
}

/** The bench lab a spec's proxy is pointed at: one sshd (its known_hosts line written) and one exporter. */
export interface SpecLab {
  sshd: { dir: string; user: string; port: number; clientKeyPath: string };
  knownHosts: string;
  exporterPort: number;
}

/** Writes the target list for `spec`'s proxy (its proxy.KEY settings included) and returns its path. */
export function writeSpecConfig(
  lab: SpecLab,
  spec: Pick<ProxySpec, "name" | "proxySettings">,
  prefix: string,
): string {
  const config = join(lab.sshd.dir, `${prefix}-targets-${spec.name}.json`);
  writeFileSync(
    config,
    JSON.stringify({
      proxy: { knownHostsFile: lab.knownHosts, ...spec.proxySettings },
      ssh: { user: lab.sshd.user, port: lab.sshd.port, key: { path: lab.sshd.clientKeyPath } },
      targets: [{ host: "127.0.0.1", exporters: [{ name: prefix, port: lab.exporterPort }] }],
    }),
  );
  return config;
}
