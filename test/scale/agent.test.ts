/**
 * `ssh.key: { agent: … }` against a real OpenSSH ssh-agent and sshd: the proxy logs in with a key that exists
 * only in the agent (its file is deleted after ssh-add), per target beside a file key, and says which agent
 * refused when the agent holds no usable key.
 */
import { execFileSync } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { stringify } from "yaml";
import { type ConfigInput, parseConfig } from "../../src/config/index.js";
import { ProxySettingsError } from "../../src/proxy/errors.js";
import { type RunningProxy, settingsFromConfig, startProxy } from "../../src/proxy/index.js";
import { type Exporter, startExporter } from "../helpers/exporter.js";
import { type Started, start, waitFor } from "../helpers/processes.js";
import { memoryLogger, viaProxy } from "../helpers/proxy.js";
import { type Sshd, startSshd } from "../helpers/sshd.js";

const AGENT_HOST = "127.0.0.2";
const FILE_HOST = "127.0.0.3";

/** `ssh-agent -D` on `sock`, once `ssh-add -l` gets an answer (exit 1 is an empty agent answering). */
async function startAgent(sock: string): Promise<Started> {
  const agent = start("ssh-agent", ["-D", "-a", sock]);
  await waitFor(`ssh-agent on ${sock}`, () => {
    try {
      execFileSync("ssh-add", ["-l"], { env: { SSH_AUTH_SOCK: sock }, stdio: "pipe" });
    } catch (e) {
      if ((e as { status?: number }).status !== 1) throw e;
    }
    return true;
  });
  return agent;
}

describe("ssh.key { agent }: keys that never touch the proxy's disk", () => {
  let dir: string;
  let sshd: Sshd;
  let exporter: Exporter;
  let agent: Started;
  let sock: string;
  let agentFingerprint: string;
  const proxies: RunningProxy[] = [];

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), "sshscrape-agent-"));
    exporter = await startExporter();
    sshd = await startSshd({ addresses: [AGENT_HOST, FILE_HOST] });
    // A second key, only ever held by the agent: its file is deleted once ssh-add has read it.
    const agentKey = join(dir, "agent_key");
    execFileSync("ssh-keygen", ["-q", "-t", "ed25519", "-N", "", "-C", "in-agent", "-f", agentKey]);
    const agentPub = execFileSync("cat", [`${agentKey}.pub`])
      .toString()
      .trim();
    sshd.setAuthorizedKeys(`${sshd.clientKeyPub}\n${agentPub}\n`);
    agentFingerprint =
      execFileSync("ssh-keygen", ["-lf", `${agentKey}.pub`])
        .toString()
        .split(" ")[1] ?? "?";
    sock = join(dir, "agent.sock");
    agent = await startAgent(sock);
    execFileSync("ssh-add", [agentKey], { env: { SSH_AUTH_SOCK: sock }, stdio: "pipe" });
    rmSync(agentKey);
    rmSync(`${agentKey}.pub`);
  }, 30_000);

  afterAll(async () => {
    for (const p of proxies) await p.close(0);
    await agent?.stop();
    await sshd?.stop();
    await exporter?.close();
    rmSync(dir, { recursive: true, force: true });
    if (sshd) rmSync(sshd.dir, { recursive: true, force: true });
  });

  const list = (sshKey: ConfigInput["ssh"]["key"], agentTargetKey?: ConfigInput["ssh"]["key"]) => ({
    proxy: { listen: "127.0.0.1:8888", preconnect: false, knownHostsFile: join(dir, "known_hosts") },
    ssh: { user: sshd.user, port: sshd.port, key: sshKey },
    targets: [
      {
        host: AGENT_HOST,
        hostKeys: [sshd.hostKeyPub],
        ...(agentTargetKey ? { ssh: { key: agentTargetKey } } : {}),
        exporters: [{ name: "e", port: exporter.port }],
      },
      { host: FILE_HOST, hostKeys: [sshd.hostKeyPub], exporters: [{ name: "e", port: exporter.port }] },
    ],
  });

  const startWith = async (doc: object, env: NodeJS.ProcessEnv = {}) => {
    writeFileSync(join(dir, "known_hosts"), "");
    const file = join(dir, "list.yaml");
    const runtime = settingsFromConfig(parseConfig(stringify(doc), file), env);
    const { logger } = memoryLogger("warn");
    const proxy = await startProxy({ ...runtime, listen: { host: "127.0.0.1", port: 0 } }, { logger });
    proxies.push(proxy);
    return proxy;
  };
  const scrape = (proxy: RunningProxy, host: string) =>
    viaProxy(proxy.url, `http://${host}:${exporter.port}/metrics`, { timeoutMs: 15_000 });

  it("per target: one host logs in with the agent's key, the other with the key file", async () => {
    const proxy = await startWith(list({ path: sshd.clientKeyPath }, { agent: sock }));
    const viaAgent = await scrape(proxy, AGENT_HOST);
    expect(viaAgent.status, viaAgent.body.toString()).toBe(200);
    expect(viaAgent.body.equals(exporter.body)).toBe(true);
    expect((await scrape(proxy, FILE_HOST)).status).toBe(200);
    // sshd logged a login with the key that now exists only inside the agent.
    expect(sshd.output()).toContain(agentFingerprint);
  });

  it("{ agent: true } takes $SSH_AUTH_SOCK for every host; no key file is needed", async () => {
    const proxy = await startWith(list({ agent: true }), { SSH_AUTH_SOCK: sock });
    expect((await scrape(proxy, AGENT_HOST)).status).toBe(200);
    expect((await scrape(proxy, FILE_HOST)).status).toBe(200);
  });

  it("{ agent: true } without $SSH_AUTH_SOCK fails at start, naming the setting and the fix", () => {
    const doc = list({ agent: true });
    expect(() => settingsFromConfig(parseConfig(stringify(doc), join(dir, "list.yaml")), {})).toThrow(
      ProxySettingsError,
    );
    expect(() => settingsFromConfig(parseConfig(stringify(doc), join(dir, "list.yaml")), {})).toThrow(
      /ssh\.key: \{ agent: true \} uses \$SSH_AUTH_SOCK, which is not set/,
    );
  });

  it("an agent without the authorized key: 502 naming the agent's socket", async () => {
    const empty = join(dir, "empty.sock");
    const emptyAgent = await startAgent(empty);
    try {
      const proxy = await startWith(list({ path: sshd.clientKeyPath }, { agent: empty }));
      const res = await scrape(proxy, AGENT_HOST);
      expect(res.status).toBe(502);
      expect(res.headers["x-sshscrape-error"]).toBe("SSH_AUTH_FAILED");
      expect(res.body.toString()).toContain(`${empty} (ssh-agent)`);
    } finally {
      await emptyAgent.stop();
    }
  });
});
