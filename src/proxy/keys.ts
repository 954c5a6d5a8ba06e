/** Reads SSH private keys once (start and SIGHUP), so a request never touches the disk. */
import { readFileSync, statSync } from "node:fs";
import type { ParsedKey } from "ssh2";
import { describeCause, KeyFileError } from "./errors.js";
import { signWithKeyObject } from "./key-object-sign.js";
import { parseKey } from "./ssh2-lib.js";

export interface LoadedKey {
  file: string;
  key: Buffer;
  passphrase?: string;
  /**
   * The key as ssh2 parsed it, shared by every connection: given the file instead, ssh2 parses (and
   * decrypts) it again on each handshake and keeps a copy per connection (docs/benchmarks-scale.md).
   */
  parsed: ParsedKey;
}

function readKeyFile(file: string, what: string): Buffer {
  try {
    return readFileSync(file);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    const hint =
      code === "ENOENT"
        ? " (no such file; pass --key-file or set ssh.key in the target list)"
        : code === "EACCES"
          ? " (permission denied; the proxy's user must be able to read it)"
          : "";
    throw new KeyFileError(file, `cannot read ${what}: ${describeCause(err)}${hint}`, { cause: err });
  }
}

/** Parses the key to fail at start, not on the first scrape; an encrypted key needs `passphraseFile`. */
export function loadPrivateKey(file: string, passphraseFile?: string): LoadedKey {
  const key = readKeyFile(file, "private key");
  const passphrase = passphraseFile
    ? readKeyFile(passphraseFile, "passphrase file").toString().trim()
    : undefined;
  const parsed = parseKey(key, passphrase);
  if (parsed instanceof Error) {
    if (/no passphrase given/i.test(parsed.message))
      throw new KeyFileError(
        file,
        "private key is encrypted: set ssh.passphraseFile to a file holding its passphrase, or use an " +
          "unencrypted key readable only by the proxy's user",
      );
    if (/bad passphrase|integrity check/i.test(parsed.message))
      throw new KeyFileError(file, `cannot decrypt the private key with the passphrase in ${passphraseFile}`);
    throw new KeyFileError(file, `not an SSH private key: ${parsed.message}`);
  }
  const first = Array.isArray(parsed) ? parsed[0] : parsed;
  if (!first?.isPrivateKey())
    throw new KeyFileError(file, "holds a public key; expected the private key (without .pub)");
  signWithKeyObject(first);
  return { file, key, passphrase, parsed: first };
}

/** A warning when the key file can be read by group or others (ssh(1) refuses such keys outright). */
export function keyPermissionWarning(file: string): string | undefined {
  try {
    const mode = statSync(file).mode & 0o777;
    if (mode & 0o077)
      return `${file}: private key is readable by group or others (mode ${mode.toString(8).padStart(4, "0")}); run chmod 600 ${file}`;
  } catch {
    // unreadable files are reported by loadPrivateKey
  }
  return undefined;
}

/** Every key the proxy may use, by path. Replaced as a whole on reload so a bad file keeps the old set. */
export class KeyStore {
  private keys = new Map<string, LoadedKey>();

  /** Loads all `files`; throws the first KeyFileError without changing the current set. */
  load(files: Iterable<string>, passphraseFile?: string): string[] {
    const next = new Map<string, LoadedKey>();
    const warnings: string[] = [];
    for (const file of new Set(files)) {
      next.set(file, loadPrivateKey(file, passphraseFile));
      const w = keyPermissionWarning(file);
      if (w) warnings.push(w);
    }
    this.keys = next;
    return warnings;
  }

  get(file: string): LoadedKey {
    const k = this.keys.get(file);
    if (!k) throw new KeyFileError(file, "private key was not loaded at start (reload with SIGHUP)");
    return k;
  }
}
