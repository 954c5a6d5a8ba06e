/**
 * The parent's side of the bench's load generator (scripts/bench-load.ts, a child process so its CPU is not
 * the measured proxy's): rounds of requests sent over IPC, one result each. Used by bench, bench-ab and
 * gc-probe.
 */
import { type ChildProcess, fork } from "node:child_process";
import { join } from "node:path";
import type { RoundRequest, RoundResult } from "./bench-load.js";

export class LoadGenerator {
  private readonly child: ChildProcess;
  private nextId = 0;
  private readonly waiting = new Map<number, (r: RoundResult) => void>();

  constructor() {
    this.child = fork(join(import.meta.dirname, "bench-load.ts"), [], {
      execArgv: ["--import", "tsx"],
      stdio: ["ignore", "inherit", "inherit", "ipc"],
    });
    this.child.on("message", (m: RoundResult | { type: "closed" }) => {
      if (m.type === "result") this.waiting.get(m.id)?.(m);
      if (m.type === "closed") this.waiting.get(-1)?.(m as unknown as RoundResult);
    });
  }

  run(r: Omit<RoundRequest, "type" | "id">): Promise<RoundResult> {
    const id = this.nextId++;
    return new Promise((resolve) => {
      this.waiting.set(id, (res) => {
        this.waiting.delete(id);
        resolve(res);
      });
      this.child.send({ type: "round", id, ...r } satisfies RoundRequest);
    });
  }

  /** Closes every keep-alive connection (and so the tunnel's channels) before the next concurrency. */
  closeAgents(): Promise<void> {
    return new Promise((resolve) => {
      this.waiting.set(-1, () => {
        this.waiting.delete(-1);
        resolve();
      });
      this.child.send({ type: "close" });
    });
  }

  stop(): void {
    this.child.kill();
  }
}
