import type { KeySource } from "./schema.js";

/** A key that lives in a file (plain, sops-nix or agenix), as opposed to the keys of an ssh-agent. */
export type FileKeySource = Exclude<KeySource, { agent: unknown }>;

export function isAgentKey(key: KeySource): key is Extract<KeySource, { agent: unknown }> {
  return "agent" in key;
}

/** Name of the sops-nix / agenix secret that holds a key (also the file name under /run/secrets or /run/agenix). */
export function secretName(key: KeySource): string | undefined {
  if ("sops" in key) return key.sops.name ?? "sshscrape-ssh-key";
  if ("agenix" in key) return key.agenix.name ?? "sshscrape-ssh-key";
  return undefined;
}

/**
 * Where the private key is on the monitoring host at run time: the plain path, or the default path
 * sops-nix (/run/secrets/NAME) or agenix (/run/agenix/NAME) decrypts the secret to. For an ssh-agent, its
 * socket (`$SSH_AUTH_SOCK` for `agent: true`).
 */
export function runtimeKeyPath(key: KeySource): string {
  if ("agent" in key) return key.agent === true ? "$SSH_AUTH_SOCK" : key.agent;
  if ("path" in key) return key.path;
  if ("sops" in key) return `/run/secrets/${secretName(key)}`;
  return `/run/agenix/${secretName(key)}`;
}
