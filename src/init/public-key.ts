/**
 * Where `init` finds the public half of the SSH key for `ssh.publicKey` (needed by `generate --remote`):
 * `--public-key` as a key line or as the path of a `.pub` file (what `ssh-keygen -f KEY` writes next to KEY),
 * else `KEY.pub` beside a plain key path (`--key path --key-file KEY`), as ssh-keygen lays them out.
 */
import { existsSync, readFileSync } from "node:fs";
import { InitInputError } from "./init.js";

/** `type base64 [comment]`, as in authorized_keys (sshd(8) AUTHORIZED_KEYS FILE FORMAT), without options. */
const KEY_LINE = /^(ssh-[a-z0-9-]+|ecdsa-sha2-[a-z0-9-]+|sk-[a-z0-9@.-]+) [A-Za-z0-9+/]+={0,3}( .*)?$/;

export function isPublicKeyLine(text: string): boolean {
  return KEY_LINE.test(text.trim());
}

function firstLine(text: string): string {
  return (text.split("\n").find((l) => l.trim() !== "") ?? "").trim();
}

/** `--public-key` → the key line (read from the file when it names one). */
export function publicKeyFromFlag(value: string): string {
  if (isPublicKeyLine(value)) return value.trim();
  if (!existsSync(value))
    throw new InitInputError(
      `--public-key ${value}: neither a public key line ("ssh-ed25519 AAAA… comment") nor an existing file; pass the .pub file ssh-keygen wrote`,
    );
  let line: string;
  try {
    line = firstLine(readFileSync(value, "utf8"));
  } catch (err) {
    throw new InitInputError(`--public-key ${value}: cannot read: ${(err as NodeJS.ErrnoException).code}`);
  }
  if (!isPublicKeyLine(line))
    throw new InitInputError(
      `--public-key ${value}: the file does not start with a public key line ("ssh-ed25519 AAAA… comment"); is it the private key? pass KEY.pub`,
    );
  return line;
}

/** The line in `KEY.pub` next to a plain private key path, if there is a readable one. */
export function publicKeyBeside(keyFile: string): string | undefined {
  const pub = `${keyFile}.pub`;
  if (!existsSync(pub)) return undefined;
  return publicKeyFromFlag(pub);
}
