/** CPU of process trees from /proc, for the benchmarks' sshd figures (sshd forks a process or two per connection). */
import { readdirSync, readFileSync } from "node:fs";

/**
 * CPU (clock ticks) of the processes under `roots`, the roots included: each living process's own (utime +
 * stime) and, with `reaped`, the CPU of its children that exited and were waited for (cutime + cstime), which
 * the kernel adds to a living parent. Without it, a child that exits during a measured span takes its CPU
 * with it.
 */
export function treeCpuTicks(roots: number[], { reaped = false }: { reaped?: boolean } = {}): number {
  const children = new Map<number, number[]>();
  const ticks = new Map<number, number>();
  for (const entry of readdirSync("/proc")) {
    if (!/^\d+$/.test(entry)) continue;
    let stat: string;
    try {
      stat = readFileSync(`/proc/${entry}/stat`, "utf8");
    } catch {
      continue; // exited meanwhile
    }
    const f = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    const pid = Number(entry);
    const ppid = Number(f[1]);
    const own = Number(f[11]) + Number(f[12]);
    ticks.set(pid, reaped ? own + Number(f[13]) + Number(f[14]) : own);
    children.set(ppid, [...(children.get(ppid) ?? []), pid]);
  }
  let total = 0;
  const todo = [...roots];
  while (todo.length) {
    const pid = todo.pop() as number;
    total += ticks.get(pid) ?? 0;
    todo.push(...(children.get(pid) ?? []));
  }
  return total;
}
