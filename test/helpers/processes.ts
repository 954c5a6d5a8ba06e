import { type ChildProcess, type SpawnOptions, spawn } from "node:child_process";
import { createServer } from "node:net";

const running = new Set<ChildProcess>();

/** Kills every process the tests started, by PID, when the test process exits for any reason. */
function killAll(): void {
  for (const child of running) {
    if (child.exitCode === null && child.pid) {
      try {
        process.kill(child.pid, "SIGKILL");
      } catch {
        // already gone
      }
    }
  }
}
process.once("exit", killAll);
for (const sig of ["SIGINT", "SIGTERM"] as const) {
  process.once(sig, () => {
    killAll();
    process.exit(130);
  });
}

export interface Started {
  child: ChildProcess;
  /** Everything the process wrote to stdout and stderr so far (for failure messages). */
  output(): string;
  /** SIGTERM, then SIGKILL after 3 s; resolves when the process is gone. */
  stop(): Promise<void>;
}

export function start(cmd: string, args: string[], options: SpawnOptions = {}): Started {
  const child = spawn(cmd, args, { stdio: ["ignore", "pipe", "pipe"], ...options });
  running.add(child);
  let out = "";
  child.stdout?.on("data", (d) => {
    out += d;
    if (out.length > 200_000) out = out.slice(-100_000);
  });
  child.stderr?.on("data", (d) => {
    out += d;
    if (out.length > 200_000) out = out.slice(-100_000);
  });
  const exited = new Promise<void>((resolve) => child.once("exit", () => resolve()));
  child.once("exit", () => running.delete(child));
  return {
    child,
    output: () => out,
    async stop() {
      if (child.exitCode !== null || child.signalCode !== null) return;
      child.kill("SIGTERM");
      const timer = setTimeout(() => child.kill("SIGKILL"), 3000);
      await exited;
      clearTimeout(timer);
    },
  };
}

/**
 * A TCP port that was free a moment ago on `host`. Racy: anything on the machine may take it before the
 * caller binds it. Prefer port 0 read back from the program, or ports.ts's reservedPort() with a retry.
 */
export async function freePort(host = "127.0.0.1"): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.once("error", reject);
    srv.listen(0, host, () => {
      const addr = srv.address();
      srv.close(() => resolve(typeof addr === "object" && addr ? addr.port : 0));
    });
  });
}

/** Polls `check` until it returns true or `timeoutMs` passes. */
export async function waitFor(
  what: string,
  check: () => Promise<boolean> | boolean,
  timeoutMs = 10_000,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    try {
      if (await check()) return;
    } catch {
      // not yet
    }
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
}

/**
 * Waits until a program started on port 0 logs the address it bound, e.g. Prometheus' and node_exporter's
 * `msg="Listening on" address=127.0.0.1:43421`; returns the port.
 */
export async function portFromLog(
  proc: Started,
  pattern: RegExp,
  what: string,
  timeoutMs = 20_000,
): Promise<number> {
  let port = 0;
  await waitFor(
    `${what} to log its port`,
    () => {
      if (proc.child.exitCode !== null || proc.child.signalCode !== null) return true;
      const m = pattern.exec(proc.output());
      if (m) port = Number(m[1]);
      return port > 0;
    },
    timeoutMs,
  );
  if (port === 0)
    throw new Error(`${what} exited before listening (${proc.child.exitCode ?? proc.child.signalCode})`);
  return port;
}
