import type { Config } from "../config/index.js";
import { joinHostPort, normalizeHost } from "../config/index.js";

/** Where one sshd's keys are recorded in the target list. */
export interface KeySlot {
  /** Path in the document, e.g. ["targets", 0, "hostKeys"] or ["targets", 0, "ssh", "jump", "hostKeys"]. */
  path: Array<string | number>;
  recorded: string[];
}

/** One sshd to scan (a target or a jump host, named by its first use), with every place in the file its keys go. */
export interface Endpoint {
  host: string;
  port: number;
  role: "target" | "jump";
  slots: KeySlot[];
}

/** The sshd port of a target: its own `ssh.port`, else the list's `ssh.port`. */
export function targetSshPort(config: Config, index: number): number {
  return config.targets[index]?.ssh?.port ?? config.ssh.port;
}

/**
 * The sshd port of a target's jump host: its own `port`, else 22 (a bastion is usually a different
 * machine than the targets; the proxy reads the field the same way).
 */
export function jumpSshPort(config: Config, index: number): number {
  return config.targets[index]?.ssh?.jump?.port ?? 22;
}

/**
 * Every distinct sshd (host:port) in the list, targets and jump hosts, in file order. A jump host several
 * targets share is scanned once and its keys are written into each target's `ssh.jump.hostKeys`.
 */
export function planEndpoints(config: Config): Endpoint[] {
  const byAddress = new Map<string, Endpoint>();
  const add = (host: string, port: number, role: Endpoint["role"], slot: KeySlot) => {
    const id = joinHostPort(normalizeHost(host), port);
    let ep = byAddress.get(id);
    if (!ep) {
      ep = { host, port, role, slots: [] };
      byAddress.set(id, ep);
    }
    ep.slots.push(slot);
  };
  config.targets.forEach((t, i) => {
    const jump = t.ssh?.jump;
    if (jump)
      add(jump.host, jumpSshPort(config, i), "jump", {
        path: ["targets", i, "ssh", "jump", "hostKeys"],
        recorded: jump.hostKeys ?? [],
      });
    add(t.host, targetSshPort(config, i), "target", {
      path: ["targets", i, "hostKeys"],
      recorded: t.hostKeys ?? [],
    });
  });
  return [...byAddress.values()];
}
