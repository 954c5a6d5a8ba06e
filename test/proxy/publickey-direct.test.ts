/**
 * signPublicKeyDirectly (src/proxy/publickey-direct.ts) against the installed ssh2 and a real OpenSSH sshd at
 * LogLevel DEBUG2, which logs each public key request it gets as a query ("querying public key") or as a
 * signed attempt ("attempting public key"). Without the change ssh2 queries first (the control); with it sshd sees
 * only the signed request, for Ed25519 and RSA client keys (OpenSSH 9.2 takes RSA only with SHA-2, so the RSA
 * login shows the hash follows the algorithm ssh2 chose), through the proxy as well. A key sshd does not
 * accept is refused as before, and a key that cannot sign falls back to ssh2's own query and error.
 */
import { execFileSync } from "node:child_process";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { type Client, type ParsedKey, type PublicKeyAuthMethod, utils } from "ssh2";
import { afterAll, beforeAll, expect, it } from "vitest";
import { startProxy } from "../../src/proxy/index.js";
import { signPublicKeyDirectly } from "../../src/proxy/publickey-direct.js";
import { type Exporter, startExporter } from "../helpers/exporter.js";
import { waitFor } from "../helpers/processes.js";
import { memoryLogger, runtimeFor, viaProxy } from "../helpers/proxy.js";
import { connectSsh2, forwardOut } from "../helpers/ssh2-client.js";
import { type Sshd, startSshd } from "../helpers/sshd.js";

let sshd: Sshd;
let exporter: Exporter;

beforeAll(async () => {
  exporter = await startExporter({ body: "up 1\n" });
  sshd = await startSshd({ permitOpen: [exporter.port], logLevel: "DEBUG2" });
}, 60_000);

afterAll(async () => {
  await exporter?.close();
  await sshd?.stop();
});

/** sshd's public key requests since `from` (an offset into its log): queries and signed attempts. */
function requestsSince(from: number): { queries: number; signed: number } {
  const log = sshd.output().slice(from);
  return {
    queries: (log.match(/userauth_pubkey: valid user \S+ querying public key/g) ?? []).length,
    signed: (log.match(/userauth_pubkey: valid user \S+ attempting public key/g) ?? []).length,
  };
}

function parsedKey(path: string): ParsedKey {
  const key = utils.parseKey(readFileSync(path));
  if (key instanceof Error) throw key;
  return Array.isArray(key) ? (key[0] as ParsedKey) : key;
}

/** ssh2's connect options for one publickey method with `key`, as the pool gives it (src/proxy/pool.ts). */
function withKey(key: ParsedKey, debug: (m: string) => void) {
  const method: PublicKeyAuthMethod = { type: "publickey", username: sshd.user, key };
  return { privateKey: undefined, authHandler: [method], debug };
}

/** Logs in with `key` as the proxy gives it to ssh2 (one publickey method), `direct` applying the change. */
async function login(
  key: ParsedKey,
  direct: boolean,
): Promise<{ client: Client; log: string[]; applied: boolean }> {
  const log: string[] = [];
  let applied = false;
  const client = await connectSsh2(
    sshd,
    withKey(key, (m) => log.push(m)),
    (c) => {
      if (direct) applied = signPublicKeyDirectly(c, key);
    },
  );
  return { client, log, applied };
}

/** Waits until sshd has logged `n` signed attempts after `from` (its log arrives through a pipe). */
async function signedLogged(from: number, n: number): Promise<{ queries: number; signed: number }> {
  await waitFor(`sshd logging ${n} signed public key request(s)`, () => requestsSince(from).signed >= n);
  return requestsSince(from);
}

it("without the change, ssh2 asks whether the key is acceptable before signing (the control)", async () => {
  const from = sshd.output().length;
  const { client, log } = await login(parsedKey(sshd.clientKeyPath), false);
  try {
    expect(await signedLogged(from, 1)).toEqual({ queries: 1, signed: 1 });
    expect(log.some((m) => m.includes("USERAUTH_REQUEST (publickey -- check)"))).toBe(true);
    expect(log.some((m) => m.includes("USERAUTH_PK_OK"))).toBe(true);
  } finally {
    client.end();
  }
});

it("with it, sshd gets the signed request only, and the connection works", async () => {
  const from = sshd.output().length;
  const { client, log, applied } = await login(parsedKey(sshd.clientKeyPath), true);
  try {
    expect(applied).toBe(true);
    expect(await signedLogged(from, 1)).toEqual({ queries: 0, signed: 1 });
    expect(log.some((m) => m.includes("publickey -- check"))).toBe(false);
    expect(log.some((m) => m.includes("USERAUTH_PK_OK"))).toBe(false);
    const ch = await forwardOut(client, exporter.port);
    ch.end("GET /metrics HTTP/1.0\r\n\r\n");
    const chunks: Buffer[] = [];
    for await (const c of ch) chunks.push(c as Buffer);
    expect(Buffer.concat(chunks).toString()).toMatch(/\r\n\r\nup 1\n$/);
  } finally {
    client.end();
  }
});

it("signs an RSA key with the hash of the algorithm ssh2 chose (sshd refuses SHA-1)", async () => {
  const rsa = join(sshd.dir, "client_rsa_key");
  execFileSync("ssh-keygen", ["-q", "-t", "rsa", "-b", "2048", "-N", "", "-f", rsa]);
  const before = readFileSync(join(sshd.dir, "authorized_keys"), "utf8");
  sshd.setAuthorizedKeys(`${before}${readFileSync(`${rsa}.pub`, "utf8")}`);
  try {
    const from = sshd.output().length;
    const { client, log } = await login(parsedKey(rsa), true);
    client.end();
    expect(await signedLogged(from, 1)).toEqual({ queries: 0, signed: 1 });
    expect(log.some((m) => m.includes("publickey -- check"))).toBe(false);
    expect(sshd.output().slice(from)).toMatch(
      /Accepted publickey for \S+ from 127\.0\.0\.1 port \d+ ssh2: RSA SHA256:/,
    );
  } finally {
    sshd.setAuthorizedKeys(before);
  }
});

it("a key sshd does not accept is refused as before, in one signed request", async () => {
  const other = join(sshd.dir, "other_client_key");
  execFileSync("ssh-keygen", ["-q", "-t", "ed25519", "-N", "", "-f", other]);
  const from = sshd.output().length;
  const err = await login(parsedKey(other), true).then(
    ({ client }) => {
      client.end();
      throw new Error("logged in with a key sshd does not accept");
    },
    (e: Error & { level?: string }) => e,
  );
  expect(err.level).toBe("client-authentication");
  expect(err.message).toBe("All configured authentication methods failed");
  expect(await signedLogged(from, 1)).toEqual({ queries: 0, signed: 1 });
});

it("a key that cannot sign falls back to ssh2's query, and ssh2 reports the signing error", async () => {
  const key = parsedKey(sshd.clientKeyPath);
  let calls = 0;
  const failing = Object.assign(Object.create(key) as ParsedKey, {
    sign: () => {
      calls++;
      return new Error("the key's token was removed");
    },
  });
  const from = sshd.output().length;
  const errors: Array<Error & { level?: string }> = [];
  const log: string[] = [];
  const client = await connectSsh2(
    sshd,
    withKey(failing, (m) => log.push(m)),
    (c) => {
      c.on("error", (e) => errors.push(e));
      signPublicKeyDirectly(c, failing);
    },
  ).catch((e: Error) => e);
  expect(client).toBeInstanceOf(Error);
  // Once by the change (nothing sent), once by ssh2 after sshd answered the query with PK_OK.
  expect(calls).toBe(2);
  expect(log.some((m) => m.includes("publickey -- check"))).toBe(true);
  expect(errors.some((e) => /Error signing data with key: the key's token was removed/.test(e.message))).toBe(
    true,
  );
  await waitFor("sshd logging the query", () => requestsSince(from).queries >= 1);
  expect(requestsSince(from)).toEqual({ queries: 1, signed: 0 });
});

it("the proxy's SSH connections authenticate without the query", async () => {
  const from = sshd.output().length;
  const log = memoryLogger("warn");
  const p = await startProxy(runtimeFor(sshd, { exact: [{ host: "127.0.0.1", port: exporter.port }] }), {
    logger: log.logger,
  });
  try {
    const res = await viaProxy(p.url, `http://127.0.0.1:${exporter.port}/metrics`);
    expect(res.status, res.body.toString()).toBe(200);
    expect(await signedLogged(from, 1)).toEqual({ queries: 0, signed: 1 });
  } finally {
    await p.close();
  }
});
