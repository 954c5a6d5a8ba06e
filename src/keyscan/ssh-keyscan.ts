import { accessSync, constants } from "node:fs";
import { delimiter, join } from "node:path";
import { execa } from "execa";
import { ScanConnectError, SshKeyscanFailedError, SshKeyscanMissingError } from "./errors.js";
import { type HostKey, hostKeyFromLine } from "./host-key.js";
import { KEY_PROBES } from "./probe.js";

/**
 * Scans one host with OpenSSH's ssh-keyscan(1). `-t ed25519,ecdsa,rsa` asks for the same key types as the
 * built-in scanner, except that ssh-keyscan fetches one ECDSA key (the server's preferred curve), not
 * one per curve. ssh-keyscan exits 1 without a message when a host refuses the connection, so "no keys
 * at all" is reported as a connection failure with whatever it wrote to stderr.
 */
export async function sshKeyscan(host: string, port: number, timeoutMs: number): Promise<HostKey[]> {
  const seconds = String(Math.max(1, Math.ceil(timeoutMs / 1000)));
  let result: Awaited<ReturnType<typeof execa>>;
  try {
    result = await execa(
      "ssh-keyscan",
      ["-T", seconds, "-p", String(port), "-t", "ed25519,ecdsa,rsa", host],
      {
        reject: false,
        timeout: timeoutMs + 5000,
        stdin: "ignore",
      },
    );
  } catch (err) {
    throw new SshKeyscanFailedError(`ssh-keyscan could not be run: ${(err as Error).message}`, {
      cause: err,
    });
  }
  if ((result as { code?: string }).code === "ENOENT" || /ENOENT/.test(String(result.message ?? "")))
    throw new SshKeyscanMissingError();
  const keys: HostKey[] = [];
  for (const line of String(result.stdout).split("\n")) {
    if (!line.trim() || line.startsWith("#")) continue;
    // `host type base64` or `[host]:port type base64`
    const key = hostKeyFromLine(line.trim().split(/\s+/).slice(1).join(" "));
    if (key && !keys.some((k) => k.blob.equals(key.blob))) keys.push(key);
  }
  if (keys.length === 0) {
    const stderr = String(result.stderr)
      .split("\n")
      .filter((l) => l.trim() && !l.startsWith("#"))
      .join("; ");
    throw new ScanConnectError(
      host,
      port,
      `ssh-keyscan found no host keys${stderr ? ` (${stderr})` : " (connection refused or timed out?)"}`,
    );
  }
  // Same order as the built-in scanner, so both paths write the same file.
  const rank = (k: HostKey) => {
    const i = KEY_PROBES.findIndex((p) => p.type === k.type);
    return i === -1 ? KEY_PROBES.length : i;
  };
  return keys.sort((a, b) => rank(a) - rank(b));
}

/** Throws SshKeyscanMissingError unless ssh-keyscan is an executable file in a PATH directory. */
export function assertSshKeyscanOnPath(path = process.env.PATH ?? ""): void {
  for (const dir of path.split(delimiter)) {
    if (!dir) continue;
    try {
      accessSync(join(dir, "ssh-keyscan"), constants.X_OK);
      return;
    } catch {
      // not in this directory
    }
  }
  throw new SshKeyscanMissingError();
}
