/**
 * A host whose known_hosts entry is not of the type ssh2 would pick first. A stock sshd has Ed25519, ECDSA and
 * RSA host keys; ssh2 prefers Ed25519. When the user's known_hosts (or the target list's hostKeys) lists only
 * the host's ECDSA or RSA key, as an older known_hosts file often does, the proxy must still connect: OpenSSH's
 * ssh asks for the algorithms of the keys it knows first, and so must the proxy (src/proxy/host-key-algorithms.ts).
 * A key of the listed type that is not the listed one is still refused, with the mismatch message.
 */
import { execFileSync } from "node:child_process";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { hostKeyAlgorithms } from "../../src/proxy/host-key-algorithms.js";
import { startProxy } from "../../src/proxy/index.js";
import { DEFAULT_SERVER_HOST_KEY } from "../../src/proxy/ssh2-lib.js";
import { type Exporter, startExporter } from "../helpers/exporter.js";
import { memoryLogger, runtimeFor, viaProxy } from "../helpers/proxy.js";
import { type Sshd, startSshd } from "../helpers/sshd.js";

let sshd: Sshd;
let exporter: Exporter;
beforeAll(async () => {
  exporter = await startExporter({ body: "up 1\n" });
  sshd = await startSshd({ permitOpen: [exporter.port], stockHostKeys: true });
}, 60_000);

afterAll(async () => {
  await exporter?.close();
  await sshd?.stop();
});

for (const type of ["rsa", "ecdsa"] as const)
  it(`connects when known_hosts lists only the host's ${type} key`, async () => {
    const line = `[127.0.0.1]:${sshd.port} ${sshd.stockHostKeyPubs?.[type]}\n`;
    const log = memoryLogger("warn");
    const p = await startProxy(
      runtimeFor(sshd, { exact: [{ host: "127.0.0.1", port: exporter.port }], knownHosts: line }),
      { logger: log.logger },
    );
    try {
      const res = await viaProxy(p.url, `http://127.0.0.1:${exporter.port}/metrics`);
      expect(res.status, res.body.toString()).toBe(200);
      expect(res.body.toString()).toBe("up 1\n");
    } finally {
      await p.close();
    }
  });

it("still refuses a host whose key of the listed type is not the listed one, naming that type", async () => {
  const other = join(sshd.dir, "other_rsa_key");
  execFileSync("ssh-keygen", ["-q", "-t", "rsa", "-N", "", "-f", other]);
  const pub = readFileSync(`${other}.pub`, "utf8").trim().split(" ").slice(0, 2).join(" ");
  const log = memoryLogger("warn");
  const p = await startProxy(
    runtimeFor(sshd, {
      exact: [{ host: "127.0.0.1", port: exporter.port }],
      knownHosts: `[127.0.0.1]:${sshd.port} ${pub}\n`,
    }),
    { logger: log.logger },
  );
  try {
    const res = await viaProxy(p.url, `http://127.0.0.1:${exporter.port}/metrics`);
    expect(res.status).toBe(502);
    expect(res.body.toString()).toMatch(/host key mismatch .* the server offered ssh-rsa SHA256:/);
  } finally {
    await p.close();
  }
});

describe("hostKeyAlgorithms", () => {
  it("keeps ssh2's default list when a known type is already first, or nothing usable is known", () => {
    expect(hostKeyAlgorithms(["ssh-ed25519"])).toBeUndefined();
    expect(hostKeyAlgorithms([])).toBeUndefined();
    expect(hostKeyAlgorithms(["sk-ssh-ed25519@openssh.com"])).toBeUndefined();
  });

  it("puts the known types' algorithms first, in ssh2's order, then the rest of the defaults", () => {
    expect(hostKeyAlgorithms(["ssh-rsa"])).toEqual([
      "rsa-sha2-512",
      "rsa-sha2-256",
      "ssh-rsa",
      ...DEFAULT_SERVER_HOST_KEY.filter((a) => !["rsa-sha2-512", "rsa-sha2-256", "ssh-rsa"].includes(a)),
    ]);
    const ecdsaFirst = hostKeyAlgorithms(["ssh-rsa", "ecdsa-sha2-nistp384"]);
    expect(ecdsaFirst?.slice(0, 4)).toEqual([
      "ecdsa-sha2-nistp384",
      "rsa-sha2-512",
      "rsa-sha2-256",
      "ssh-rsa",
    ]);
    expect(new Set(ecdsaFirst)).toEqual(new Set(DEFAULT_SERVER_HOST_KEY));
    // Known Ed25519 and RSA: a server without Ed25519 is asked for RSA before the unknown ECDSA.
    expect(hostKeyAlgorithms(["ssh-ed25519", "ssh-rsa"])?.slice(0, 5)).toEqual([
      "ssh-ed25519",
      "rsa-sha2-512",
      "rsa-sha2-256",
      "ssh-rsa",
      "ecdsa-sha2-nistp256",
    ]);
    // ssh2 supports DSA without offering it: a host known only by a DSA key is asked for it first.
    expect(hostKeyAlgorithms(["ssh-dss"])?.[0]).toBe("ssh-dss");
  });
});
