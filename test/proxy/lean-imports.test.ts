/**
 * The proxy process loads ssh2's Client and prom-client's metric classes from their own files
 * (src/proxy/ssh2-lib.ts, src/proxy/prom-client-lib.ts), not the packages' index files, which also load
 * ssh2's Server and HTTP(S) agents and prom-client's Pushgateway and cluster aggregator: node:tls and
 * node:https compiled and resident for the proxy's whole life for nothing (docs/benchmarks.md, "Memory
 * (issue 14, round 5)"). What must hold: a proxy that served /metrics and was stopped never loaded those files
 * or node:tls / node:https, and it did load the files it uses (so the check below can fail).
 */
import { execFileSync } from "node:child_process";
import { mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { createRequire } from "node:module";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { launchProxy } from "../helpers/proxy-cli.js";

const require = createRequire(import.meta.url);
const RECORDER = join(import.meta.dirname, "../helpers/record-loaded.mjs");
const work = mkdtempSync(join(tmpdir(), "sshscrape-lean-imports-"));

/** `sshscrape proxy` flags for a proxy of its own (a fresh key, an empty known_hosts), logging at debug level. */
function proxyArgs(name: string): string[] {
  const key = join(work, `key-${name}`);
  execFileSync("ssh-keygen", ["-q", "-t", "ed25519", "-N", "", "-f", key]);
  const knownHosts = join(work, `known_hosts-${name}`);
  writeFileSync(knownHosts, "");
  return ["--ssh.key-file", key, "--known-hosts-file", knownHosts, "--log-level", "debug"];
}

describe("bin/run.js proxy", () => {
  it("never loads ssh2's or prom-client's index (nor node:tls, node:https)", async () => {
    const record = join(work, "loaded.txt");
    writeFileSync(record, "");
    const proxy = await launchProxy(proxyArgs("a"), {
      NODE_OPTIONS: `--import=${RECORDER}`,
      RECORD_LOADED: record,
    });
    const metrics = await fetch(`${proxy.url}/metrics`);
    expect(metrics.status).toBe(200);
    expect(await metrics.text()).toContain("# TYPE sshscrape_requests_total counter");
    await proxy.proc.stop();
    expect(await proxy.exited).toBe(0);

    const prefix = `${proxy.proc.child.pid} `;
    const loaded = readFileSync(record, "utf8")
      .split("\n")
      .filter((line) => line.startsWith(prefix))
      .map((line) => line.slice(prefix.length));
    const files = loaded.filter((l) => l.startsWith("file ")).map((l) => l.slice(5));
    const builtins = loaded.filter((l) => l.startsWith("builtin ")).map((l) => l.slice(8));
    const pkg = (name: string, path: string) =>
      files.some((f) => f.endsWith(`/node_modules/${name}/${path}`));

    expect(pkg("ssh2", "lib/client.js")).toBe(true);
    expect(pkg("ssh2", "lib/protocol/keyParser.js")).toBe(true);
    expect(pkg("prom-client", "lib/registry.js")).toBe(true);
    expect(pkg("prom-client", "lib/defaultMetrics.js")).toBe(true);
    expect(builtins).toContain("http");
    for (const path of ["lib/index.js", "lib/server.js", "lib/http-agents.js", "lib/keygen.js"])
      expect(pkg("ssh2", path), `ssh2/${path}`).toBe(false);
    for (const path of ["index.js", "lib/pushgateway.js", "lib/cluster.js", "lib/summary.js"])
      expect(pkg("prom-client", path), `prom-client/${path}`).toBe(false);
    expect(builtins.filter((b) => b === "tls" || b === "https" || b === "_tls_wrap")).toEqual([]);
    // ssh2 was loaded by ssh2-lib.ts first, so its key exchange got the raw-key functions (ssh2-kex-crypto.ts).
    expect(proxy.proc.output()).toContain('"msg":"listening"');
    expect(proxy.proc.output()).not.toContain("KEX_CRYPTO_NOT_APPLIED");
  });

  it("says at debug level when ssh2 was loaded before its key exchange could get the raw-key functions", async () => {
    // ssh2's index, preloaded: the proxy's ssh2-lib.ts then finds ssh2's modules already loaded.
    const proxy = await launchProxy(proxyArgs("b"), { NODE_OPTIONS: `--require=${require.resolve("ssh2")}` });
    await proxy.proc.stop();
    expect(proxy.proc.output()).toContain("KEX_CRYPTO_NOT_APPLIED");
  });
});
