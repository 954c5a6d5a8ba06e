/**
 * `sshscrape proxy` as its own process (the built CLI: `npm run build` first), listening on port 0: the
 * address it bound is read back from its "listening" log line, so no other program can be on that port.
 */
import { execFileSync } from "node:child_process";
import { join } from "node:path";
import { type Started, start, waitFor } from "./processes.js";

export const BIN = join(import.meta.dirname, "../../bin/run.js");

export interface ProxyProcess {
  proc: Started;
  url: string;
  /** Resolves with the exit code once the process has exited. */
  exited: Promise<number | null>;
  /** Waits for a JSON log line with this `msg` after the first `from` characters of output. */
  logged(msg: string, from?: number, timeoutMs?: number): Promise<void>;
}

/** Runs `sshscrape proxy ARGS` to completion (start-up failures): exit status and stderr. */
export function runProxy(args: string[], env: NodeJS.ProcessEnv = {}): { status: number; stderr: string } {
  try {
    execFileSync(process.execPath, [BIN, "proxy", ...args], {
      env: { ...process.env, ...env },
      stdio: "pipe",
    });
    return { status: 0, stderr: "" };
  } catch (err) {
    const e = err as { status: number; stderr: Buffer };
    return { status: e.status, stderr: e.stderr.toString() };
  }
}

/**
 * `sshscrape proxy ARGS` with `--listen 127.0.0.1:0` added (pass `listenFlag: null` when ARGS name the
 * address themselves); resolves once it logged "listening", with the URL it logged.
 */
export async function launchProxy(
  args: string[],
  env: NodeJS.ProcessEnv = {},
  listenFlag: string | null = "--listen",
): Promise<ProxyProcess> {
  const listen = listenFlag ? [listenFlag, "127.0.0.1:0"] : [];
  const proc = start(process.execPath, [BIN, "proxy", ...listen, ...args], {
    env: { ...process.env, ...env },
  });
  const exited = new Promise<number | null>((resolve) => {
    if (proc.child.exitCode !== null) resolve(proc.child.exitCode);
    else proc.child.once("exit", (code) => resolve(code));
  });
  let url = "";
  try {
    await waitFor(
      "proxy listening",
      () => {
        const m = /"url":"(http:\/\/[^"]+)"[^\n]*"msg":"listening"/.exec(proc.output());
        if (m) url = m[1] as string;
        // An exited proxy will never listen: stop polling and report its output below.
        return url !== "" || proc.child.exitCode !== null;
      },
      15_000,
    );
    if (url === "") throw new Error(`exited ${proc.child.exitCode}`);
  } catch (err) {
    await proc.stop();
    throw new Error(`sshscrape proxy did not start (${(err as Error).message}):\n${proc.output()}`);
  }
  const logged = (msg: string, from = 0, timeoutMs = 10_000) =>
    waitFor(
      `proxy log "${msg}"\n${proc.output().slice(-2000)}`,
      () => proc.output().slice(from).includes(`"msg":"${msg}"`),
      timeoutMs,
    );
  return { proc, url, exited, logged };
}
