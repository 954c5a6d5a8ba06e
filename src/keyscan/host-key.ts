import { createHash } from "node:crypto";

/** One SSH public host key, as recorded in a target list (`type base64`) and compared by its wire blob. */
export interface HostKey {
  /** Key type named inside the blob (`ssh-ed25519`, `ecdsa-sha2-nistp256`, `ssh-rsa`, …). */
  type: string;
  /** The raw SSH wire-format public key (RFC 4253 §6.6), what ssh2's hostVerifier receives. */
  blob: Buffer;
}

/** The type string at the start of an RFC 4253 §6.6 public key blob, or undefined when malformed. */
export function blobType(blob: Buffer): string | undefined {
  if (blob.length < 4) return undefined;
  const len = blob.readUInt32BE(0);
  if (len === 0 || len > 64 || blob.length < 4 + len) return undefined;
  const type = blob.subarray(4, 4 + len).toString("latin1");
  return /^[a-z0-9@.-]+$/.test(type) ? type : undefined;
}

export function hostKeyFromBlob(blob: Buffer): HostKey | undefined {
  const type = blobType(blob);
  return type ? { type, blob: Buffer.from(blob) } : undefined;
}

/** Parses `type base64 [comment]` (the schema has already checked it with ssh2's parser). */
export function hostKeyFromLine(line: string): HostKey | undefined {
  const [, b64] = line.trim().split(/\s+/);
  if (!b64) return undefined;
  return hostKeyFromBlob(Buffer.from(b64, "base64"));
}

/** `type base64`, the form written into `hostKeys` and known_hosts. */
export function formatHostKey(key: HostKey): string {
  return `${key.type} ${key.blob.toString("base64")}`;
}

/** OpenSSH's fingerprint format (`ssh-keygen -lf`): SHA256 of the blob, base64 without padding. */
export function fingerprint(key: HostKey): string {
  return `SHA256:${createHash("sha256").update(key.blob).digest("base64").replace(/=+$/, "")}`;
}

export function sameKey(a: HostKey, b: HostKey): boolean {
  return a.blob.equals(b.blob);
}
