/**
 * The authorized_keys line `generate --remote` writes, installed in a REAL sshd: the key may open channels
 * to its exporters and nothing else (sshd(8) `restrict`, `permitopen`).
 */
import { mkdirSync, mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { parseConfig } from "../../src/config/index.js";
import { generateFiles } from "../../src/generate/generate.js";
import { nixPath, nixString } from "../../src/nix/escape.js";
import { type Exporter, startExporter } from "../helpers/exporter.js";
import { connectSsh2, forwardOut } from "../helpers/ssh2-client.js";
import { type Sshd, startSshd } from "../helpers/sshd.js";
import { nixEvalJson, repoRoot } from "../nix/nix.js";

let sshd: Sshd;
let allowed: Exporter;
let forbidden: Exporter;
let keyLine: string;

/** Opens a direct-tcpip channel and reads the HTTP response, or rejects with sshd's refusal. */
async function fetchThroughSsh(port: number): Promise<string> {
  const client = await connectSsh2(sshd);
  try {
    const channel = await forwardOut(client, port);
    return await new Promise<string>((resolve, reject) => {
      let body = "";
      channel.on("data", (d: Buffer) => {
        body += d;
      });
      channel.on("error", reject);
      channel.on("close", () => resolve(body));
      channel.end(`GET /metrics HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\nConnection: close\r\n\r\n`);
    });
  } finally {
    client.end();
  }
}

beforeAll(async () => {
  sshd = await startSshd();
  allowed = await startExporter({ body: "allowed_metric 1\n" });
  forbidden = await startExporter({ body: "forbidden_metric 1\n" });
  const list = {
    ssh: { user: sshd.user, key: { path: sshd.clientKeyPath }, publicKey: sshd.clientKeyPub },
    targets: [
      {
        host: "127.0.0.1",
        ssh: { port: sshd.port },
        hostKeys: [sshd.hostKeyPub],
        exporters: [{ name: "node", port: allowed.port }],
      },
    ],
  };
  const out = mkdtempSync(join(tmpdir(), "sshscrape-remote-"));
  const loaded = parseConfig(JSON.stringify(list), join(out, "list.json"));
  const files = generateFiles(loaded, {
    source: "list.json",
    version: "test",
    base: out,
    format: "nix",
    split: false,
    remote: true,
    modules: "copy",
  });
  for (const f of files) {
    mkdirSync(dirname(join(out, f.name)), { recursive: true });
    writeFileSync(join(out, f.name), f.content);
  }
  // Through Nix, as NixOS would read it (the module copy beside remote.nix, the NixOS-typed stubs): the
  // exact string that lands in authorized_keys.
  const ev = nixEvalJson<{
    users: Record<string, { openssh: { authorizedKeys: { keys: string[] } } }>;
  }>(
    `import ${nixPath(join(repoRoot, "test/nix/eval-nixos.nix"))} { modules = [ (import ${nixPath(join(out, "remote.nix"))}).${nixString("127.0.0.1")} ]; }`,
  );
  keyLine = ev.users[sshd.user]?.openssh.authorizedKeys.keys[0] as string;
  sshd.setAuthorizedKeys(`${keyLine}\n`);
});

afterAll(async () => {
  await sshd?.stop();
  await allowed?.close();
  await forbidden?.close();
});

describe("generated authorized_keys line in a real sshd", () => {
  it("is restricted to port forwarding to the listed exporter", () => {
    expect(keyLine).toBe(
      `restrict,port-forwarding,permitopen="127.0.0.1:${allowed.port}" ${sshd.clientKeyPub}`,
    );
  });

  it("lets the key reach its exporter", async () => {
    expect(await fetchThroughSsh(allowed.port)).toContain("allowed_metric 1");
  });

  it("refuses a port that is not in permitopen, though something listens there", async () => {
    await expect(fetchThroughSsh(forbidden.port)).rejects.toThrow(/prohibited|denied|open failed/i);
    expect(forbidden.requests).toHaveLength(0);
  });
});
