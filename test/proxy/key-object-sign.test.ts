/**
 * signWithKeyObject (src/proxy/key-object-sign.ts), for each key type a user's `ssh.key` may hold: the
 * signature verifies with ssh2's own (PEM-based) check, for the default hash and, for RSA, the SHA-2 hashes
 * ssh2 asks for with OpenSSH's `rsa-sha2-256/512`; for the deterministic types it is byte for byte ssh2's own;
 * an unusable hash is returned as an Error, not thrown; and a real OpenSSH sshd accepts the key in a login
 * (OpenSSH 9.2 refuses SHA-1 RSA signatures, so the RSA login proves the hash ssh2 passes is used).
 */
import { execFileSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { type ParsedKey, type PublicKeyAuthMethod, utils } from "ssh2";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { loadPrivateKey } from "../../src/proxy/keys.js";
import { connectSsh2 } from "../helpers/ssh2-client.js";
import { type Sshd, startSshd } from "../helpers/sshd.js";

const work = mkdtempSync(join(tmpdir(), "sshscrape-key-object-sign-"));
let sshd: Sshd;
beforeAll(async () => {
  sshd = await startSshd({});
}, 30_000);
afterAll(async () => {
  await sshd?.stop();
  rmSync(work, { recursive: true, force: true });
});

const TYPES: Array<{
  name: string;
  args: string[];
  deterministic: boolean;
  hashes: Array<string | undefined>;
}> = [
  { name: "ed25519", args: ["-t", "ed25519"], deterministic: true, hashes: [undefined] },
  {
    name: "rsa",
    args: ["-t", "rsa", "-b", "2048"],
    deterministic: true,
    hashes: [undefined, "sha256", "sha512"],
  },
  { name: "ecdsa-256", args: ["-t", "ecdsa", "-b", "256"], deterministic: false, hashes: [undefined] },
  { name: "ecdsa-384", args: ["-t", "ecdsa", "-b", "384"], deterministic: false, hashes: [undefined] },
  { name: "ecdsa-521", args: ["-t", "ecdsa", "-b", "521"], deterministic: false, hashes: [undefined] },
];

function keyPair(name: string, args: string[]): { path: string; pub: string } {
  const path = join(work, `id_${name}`);
  execFileSync("ssh-keygen", ["-q", ...args, "-N", "", "-C", name, "-f", path]);
  return { path, pub: readFileSync(`${path}.pub`, "utf8").trim() };
}

/** ssh2's own sign, as the parsed key had it before signWithKeyObject gave it one of its own. */
function ssh2Sign(key: ParsedKey, data: Buffer, hash?: string): Buffer | Error {
  return (Object.getPrototypeOf(key) as ParsedKey).sign.call(key, data, hash);
}

describe.each(TYPES)("$name key", ({ name, args, deterministic, hashes }) => {
  const { path, pub } = keyPair(name, args);
  const { parsed } = loadPrivateKey(path);
  const publicKey = utils.parseKey(pub) as ParsedKey;
  const data = Buffer.from(`session id and userauth request of ${name}`);

  it("signs with its own KeyObject-backed sign, verifiable by ssh2's own check", () => {
    expect(Object.hasOwn(parsed, "sign")).toBe(true);
    for (const hash of hashes) {
      const sig = parsed.sign(data, hash);
      expect(sig).toBeInstanceOf(Buffer);
      expect(publicKey.verify(data, sig as Buffer, hash)).toBe(true);
      if (deterministic) expect((sig as Buffer).equals(ssh2Sign(parsed, data, hash) as Buffer)).toBe(true);
    }
  });

  it("returns an unusable hash as an Error, as ssh2's own sign does", () => {
    const own = parsed.sign(data, "no-such-hash");
    expect(own).toBeInstanceOf(Error);
    if (name !== "ed25519") expect(ssh2Sign(parsed, data, "no-such-hash")).toBeInstanceOf(Error);
  });

  it("logs in to a real OpenSSH sshd", async () => {
    sshd.setAuthorizedKeys(`${pub}\n`);
    const method: PublicKeyAuthMethod = { type: "publickey", username: sshd.user, key: parsed };
    const client = await connectSsh2(sshd, { authHandler: [method] });
    client.end();
  });
});
