/** Facts about processes read from /proc (Linux): descendants, resident memory, open descriptors. */
import { readdirSync, readFileSync, readlinkSync } from "node:fs";

function parentOf(pid: number): number | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    // The command name is in parentheses and may itself contain ") ", so parse after the last one.
    const rest = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    return Number(rest[1]);
  } catch {
    return undefined;
  }
}

/** Every live process below `pid` (children, grandchildren, …). */
export function descendants(pid: number): number[] {
  const children = new Map<number, number[]>();
  for (const name of readdirSync("/proc")) {
    if (!/^\d+$/.test(name)) continue;
    const ppid = parentOf(Number(name));
    if (ppid === undefined) continue;
    const list = children.get(ppid) ?? [];
    list.push(Number(name));
    children.set(ppid, list);
  }
  const out: number[] = [];
  const queue = [pid];
  while (queue.length > 0) {
    const p = queue.shift() as number;
    for (const c of children.get(p) ?? []) {
      out.push(c);
      queue.push(c);
    }
  }
  return out;
}

/** Sends `signal` to `pid` and all its descendants, each by its own PID. */
export function signalTree(pid: number, signal: NodeJS.Signals, includeRoot = true): number[] {
  const pids = [...(includeRoot ? [pid] : []), ...descendants(pid)];
  for (const p of pids) {
    try {
      process.kill(p, signal);
    } catch {
      // exited meanwhile
    }
  }
  return pids;
}

/** VmRSS in kB. */
export function rssKb(pid: number): number {
  const m = /^VmRSS:\s+(\d+) kB/m.exec(readFileSync(`/proc/${pid}/status`, "utf8"));
  return m ? Number(m[1]) : Number.NaN;
}

/** Open file descriptors by kind: socket, pipe, anon_inode, file. */
export function fds(pid: number): { total: number; sockets: number } {
  const names = readdirSync(`/proc/${pid}/fd`);
  let sockets = 0;
  for (const n of names) {
    try {
      if (readlinkSync(`/proc/${pid}/fd/${n}`).startsWith("socket:")) sockets++;
    } catch {
      // closed while listing
    }
  }
  return { total: names.length, sockets };
}

export function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/** User + system CPU time of `pid` in milliseconds (utime and stime from /proc/PID/stat, in clock ticks). */
export function cpuMs(pid: number): number {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    const rest = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    // Fields 14 and 15 of proc(5) are utime and stime; rest[0] is field 3. USER_HZ is 100 on Linux.
    return (Number(rest[11]) + Number(rest[12])) * 10;
  } catch {
    return 0;
  }
}
