/**
 * Bounds the SSH handshakes in flight. When Prometheus starts with 1 000 cold targets, handshaking with
 * all at once burns CPU and trips sshd's MaxStartups (default 10:30:100, sshd_config(5)); waiters queue in
 * FIFO order and give up when their own deadline passes.
 */
export class Semaphore {
  private free: number;
  private readonly waiters: Array<() => void> = [];

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
  acquire(signal?: AbortSignal): Promise<() => void> {
    if (signal?.aborted) return Promise.reject(signal.reason);
    return new Promise((resolve, reject) => {
      const grant = () => {
        signal?.removeEventListener("abort", onAbort);
        let released = false;
        resolve(() => {
          if (released) return;
          released = true;
          this.release();
        });
      };
      const onAbort = () => {
        const i = this.waiters.indexOf(grant);
        if (i >= 0) this.waiters.splice(i, 1);
        reject(signal?.reason);
      };
      if (this.free > 0) {
        this.free--;
        grant();
        return;
      }
      signal?.addEventListener("abort", onAbort, { once: true });
      this.waiters.push(grant);
    });
  }

  private release(): void {
    const next = this.waiters.shift();
    if (next) next();
    else this.free++;
  }
}
