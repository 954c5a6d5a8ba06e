/**
 * Bounds the SSH handshakes in flight. When Prometheus starts with 1 000 cold targets, handshaking with
 * all at once burns CPU and trips sshd's MaxStartups (default 10:30:100, sshd_config(5)); waiters queue in
 * FIFO order and give up when their own deadline passes.
 *
 * Background waiters (proxy.preconnect) get a slot only when no foreground waiter (a scrape) is queued, so
 * connecting ahead never delays a scrape that is waiting now. A waiter's priority is read when a slot
 * frees, so a background wait that a scrape comes to share can be raised (`priority.background = false`).
 */
export interface Priority {
  background: boolean;
}

interface Waiter {
  grant: () => void;
  priority: Priority;
}

export class Semaphore {
  private free: number;
  private readonly waiters: Waiter[] = [];

  constructor(readonly size: number) {
    this.free = size;
  }

  get waiting(): number {
    return this.waiters.length;
  }

  get inUse(): number {
    return this.size - this.free;
  }

  /** Resolves with a release function (idempotent) once a slot is free; rejects if `signal` aborts first. */
  acquire(signal?: AbortSignal, priority: Priority = { background: false }): Promise<() => void> {
    if (signal?.aborted) return Promise.reject(signal.reason);
    return new Promise((resolve, reject) => {
      const waiter: Waiter = {
        priority,
        grant: () => {
          signal?.removeEventListener("abort", onAbort);
          let released = false;
          resolve(() => {
            if (released) return;
            released = true;
            this.release();
          });
        },
      };
      const onAbort = () => {
        const i = this.waiters.indexOf(waiter);
        if (i >= 0) this.waiters.splice(i, 1);
        reject(signal?.reason);
      };
      if (this.free > 0) {
        this.free--;
        waiter.grant();
        return;
      }
      signal?.addEventListener("abort", onAbort, { once: true });
      this.waiters.push(waiter);
    });
  }

  private release(): void {
    // The first foreground waiter, else (findIndex gives -1) the first background one.
    const urgent = this.waiters.findIndex((w) => !w.priority.background);
    const [next] = this.waiters.splice(Math.max(urgent, 0), 1);
    if (next) next.grant();
    else this.free++;
  }
}
