/**
 * An ed25519 key pair from ssh2's generator that ssh2 itself (and OpenSSH) can read back. ssh2 1.17's
 * `generateKeyPairSync("ed25519")` writes a public key that starts with a zero byte as 31 bytes instead of 32,
 * so about one key in 600 is malformed: its own parseKey rejects it ("Malformed OpenSSH private key") and
 * `ssh-keygen -y` fails with "error in libcrypto". Such a key made test/proxy/faults-inprocess.test.ts fail
 * once in CI; generating again is the fix (sshscrape itself never generates keys with ssh2).
 */
import ssh2 from "ssh2";

export function ed25519KeyPair(): { private: string; public: string } {
  for (let i = 0; i < 20; i++) {
    const pair = ssh2.utils.generateKeyPairSync("ed25519");
    if (!(ssh2.utils.parseKey(pair.private) instanceof Error)) return pair;
  }
  throw new Error("ssh2 generated 20 malformed ed25519 keys in a row");
}
