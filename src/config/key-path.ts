import type { KeySource } from "./schema.js";

/** Name of the sops-nix / agenix secret that holds a key (also the file name under /run/secrets or /run/agenix). */
export function secretName(key: KeySource): string | undefined {
  if ("sops" in key) return key.sops.name ?? "sshscrape-ssh-key";
  if ("agenix" in key) return key.agenix.name ?? "sshscrape-ssh-key";
  return undefined;
}

/**
 * Where the private key is on the monitoring host at run time: the plain path, or the default path
 * sops-nix (/run/secrets/NAME) or agenix (/run/agenix/NAME) decrypts the secret to.
 */
export function runtimeKeyPath(key: KeySource): string {
  if ("path" in key) return key.path;
  if ("sops" in key) return `/run/secrets/${secretName(key)}`;
  return `/run/agenix/${secretName(key)}`;
}
