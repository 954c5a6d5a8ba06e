/**
 * A TCP listener that never completes a connect: the kernel drops SYNs to a listening socket whose accept
 * queue is full (tcp(7), listen(2) backlog), which is what a host that is up but overloaded, or a firewall
 * that drops packets, looks like to a client. The listener is a child process stopped with SIGSTOP after
 * its backlog-1 queue was filled, so nothing ever accepts.
 */
import { connect, type Socket } from "node:net";
import { type Started, start, waitFor } from "./processes.js";

export interface StalledListener {
  host: string;
  port: number;
  close(): Promise<void>;
  /**
   * Lets the listener run again (SIGCONT): it accepts the queued connections, and a connect whose SYN was
   * dropped completes at its next retransmission (about 1 s, then 3 s, 7 s … after it started).
   */
  resume(): void;
  /** Connections accepted since resume(), including the ones that filled the queue (`queued`). */
  accepted(): number;
  /** Accepted connections closed since resume(). */
  closed(): number;
  /** How many connections of the helper's own filled the accept queue. */
  queued: number;
}

function tryConnect(host: string, port: number, ms: number): Promise<Socket | undefined> {
  return new Promise((resolve) => {
    const s = connect({ host, port });
    const timer = setTimeout(() => {
      s.destroy();
      resolve(undefined);
    }, ms);
    s.once("connect", () => {
      clearTimeout(timer);
      resolve(s);
    });
    s.once("error", () => {
      clearTimeout(timer);
      resolve(undefined);
    });
  });
}

export async function startStalledListener(host = "127.0.0.1"): Promise<StalledListener> {
  const proc: Started = start(process.execPath, [
    "-e",
    `const s = require("node:net").createServer((c) => {
       console.log("accepted");
       c.on("error", () => {});
       c.on("close", () => console.log("closed"));
     });
     s.listen({ port: 0, host: ${JSON.stringify(host)}, backlog: 1 }, () => console.log("port=" + s.address().port));`,
  ]);
  let port = 0;
  await waitFor(`stalled listener\n${proc.output()}`, () => {
    port = Number(/port=(\d+)/.exec(proc.output())?.[1] ?? 0);
    return port > 0;
  });
  process.kill(proc.child.pid as number, "SIGSTOP");
  const held: Socket[] = [];
  const close = async () => {
    for (const s of held) s.destroy();
    if (proc.child.pid) process.kill(proc.child.pid, "SIGCONT");
    await proc.stop();
  };
  // Fill the accept queue; the first connect that does not complete shows it is full.
  for (let i = 0; i < 64; i++) {
    // Generous: a completed connect that is merely slow to be reported must not pass for a dropped SYN.
    const s = await tryConnect(host, port, 2000);
    if (!s)
      return {
        host,
        port,
        close,
        resume: () => process.kill(proc.child.pid as number, "SIGCONT"),
        accepted: () => proc.output().split("accepted").length - 1,
        closed: () => proc.output().split("closed").length - 1,
        queued: held.length,
      };
    held.push(s);
  }
  await close();
  throw new Error(`connects to ${host}:${port} kept completing after 64 held connections`);
}
