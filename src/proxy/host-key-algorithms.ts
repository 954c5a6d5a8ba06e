/**
 * Which host key algorithms to ask a host for, from the key types known_hosts lists for it.
 *
 * ssh2 offers its default list (Ed25519 first), and the server picks the first of the client's algorithms it
 * has a key for. A stock sshd has Ed25519, ECDSA and RSA keys, so against a known_hosts that lists only the
 * host's ECDSA or RSA key (older files, hand-written inventories, a target list's `hostKeys` with one key),
 * the server would show its Ed25519 key and the proxy would refuse it as a mismatch. OpenSSH's ssh asks for the
 * algorithms of the keys it knows first (`order_hostkeyalgs` in sshconnect2.c); so does this: the known types'
 * algorithms in ssh2's order, then the rest of ssh2's defaults, so a host whose key really changed still shows
 * its key and gets the mismatch message rather than a failed negotiation.
 */
import type { ServerHostKeyAlgorithm } from "ssh2";
import { DEFAULT_SERVER_HOST_KEY, SUPPORTED_SERVER_HOST_KEY } from "./ssh2-lib.js";

/** Signature algorithms for a key type, where they differ from the type's name (RFC 8332). */
const ALGORITHMS_OF_TYPE: Record<string, readonly string[]> = {
  "ssh-rsa": ["rsa-sha2-512", "rsa-sha2-256", "ssh-rsa"],
};

/** undefined: ssh2's default list already puts a known type first (or nothing is known). */
export function hostKeyAlgorithms(knownTypes: readonly string[]): ServerHostKeyAlgorithm[] | undefined {
  const wanted = new Set(knownTypes.flatMap((t) => ALGORITHMS_OF_TYPE[t] ?? [t]));
  const first = SUPPORTED_SERVER_HOST_KEY.filter((a) => wanted.has(a));
  if (first.length === 0) return undefined;
  const list = [...first, ...DEFAULT_SERVER_HOST_KEY.filter((a) => !wanted.has(a))];
  return list.every((a, i) => a === DEFAULT_SERVER_HOST_KEY[i]) ? undefined : list;
}
