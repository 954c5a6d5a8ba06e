/**
 * The authorized_keys line nix/target.nix writes for a key (`restrict,port-forwarding,permitopen="HOST:PORT",…`,
 * sshd(8) AUTHORIZED_KEYS FILE FORMAT), for tests that install it in a test sshd without evaluating Nix
 * each time. nix/target.nix is the definition; test/nix/target.test.ts checks that this stays equal to what
 * the module evaluates to.
 */
import { joinHostPort } from "../../src/config/index.js";

export function authorizedKeyLine(publicKey: string, opens: Array<{ host: string; port: number }>): string {
  const sorted = [...opens].sort((a, b) => (a.host < b.host ? -1 : a.host > b.host ? 1 : a.port - b.port));
  const permitopen = sorted.map((o) => `permitopen="${joinHostPort(o.host, o.port)}"`);
  return `${["restrict", "port-forwarding", ...permitopen].join(",")} ${publicKey}`;
}
