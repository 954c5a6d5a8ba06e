/**
 * Ports for tests that run beside other tests (vitest forks, other people's test runs on the same machine).
 *
 * - Servers we write ourselves bind port 0 and read the port back: no race.
 * - Programs that report the port they bound (Prometheus, node_exporter, our proxy: all log it) are started
 *   on port 0 too, and the port is read from their log.
 * - Programs that cannot (sshd with several ListenAddress lines that must share one port; a proxy whose
 *   address goes into a generated config before it starts) get `reservedPort()`, below the kernel's
 *   ephemeral range, and the caller retries on EADDRINUSE.
 * - "Down" ports come from `closedPort()`: privileged ports nothing on the machine listens on.
 */
import { readFileSync } from "node:fs";
import { connect } from "node:net";

/** The kernel's ephemeral range (net.ipv4.ip_local_port_range), from which port-0 binds and outgoing connections draw. */
function ephemeralRange(): [number, number] {
  try {
    const [lo, hi] = readFileSync("/proc/sys/net/ipv4/ip_local_port_range", "utf8").trim().split(/\s+/);
    return [Number(lo), Number(hi)];
  } catch {
    return [32768, 60999];
  }
}

/**
 * A port for a program that must be told its port in advance. It lies between 10000 and the start of the
 * ephemeral range, so the kernel never hands it to a port-0 bind or an outgoing connection: only another
 * explicit bind of the same number can take it. The caller must still retry with a new one on EADDRINUSE.
 */
export function reservedPort(): number {
  const [ephemeralLow] = ephemeralRange();
  const hi = Math.max(12_000, ephemeralLow - 1);
  return 10_000 + Math.floor(Math.random() * (hi - 10_000));
}

/** True when `err` (or its text) says the address was in use. */
export function isAddressInUse(err: unknown): boolean {
  const e = err as { code?: string; message?: string } | undefined;
  return e?.code === "EADDRINUSE" || /address already in use|EADDRINUSE/i.test(e?.message ?? String(err));
}

/** Runs `attempt` with a fresh reservedPort() until it does not fail with EADDRINUSE (at most `tries` times). */
export async function withReservedPort<T>(attempt: (port: number) => Promise<T>, tries = 8): Promise<T> {
  let last: unknown;
  for (let i = 0; i < tries; i++) {
    try {
      return await attempt(reservedPort());
    } catch (err) {
      if (!isAddressInUse(err)) throw err;
      last = err;
    }
  }
  throw new Error(`no free port after ${tries} tries: ${(last as Error)?.message ?? last}`);
}

/** Resolves "refused" when a TCP connect to host:port is refused, else what happened instead. */
export function probe(host: string, port: number): Promise<"refused" | "open" | "other"> {
  return new Promise((resolve) => {
    const s = connect({ host, port });
    const done = (r: "refused" | "open" | "other") => {
      s.destroy();
      resolve(r);
    };
    s.setTimeout(2000, () => done("other"));
    s.once("connect", () => done("open"));
    s.once("error", (e: NodeJS.ErrnoException) => done(e.code === "ECONNREFUSED" ? "refused" : "other"));
  });
}

/**
 * Privileged ports that no well-known service uses (IANA lists them unassigned or historic). Only root can
 * bind below 1024, only by asking for the number; the kernel never gives them out for port 0 or outgoing
 * connections, and no test binds a fixed port. So a port here that refuses connections now stays closed.
 */
const UNUSED_PRIVILEGED = [4, 6, 8, 10, 12, 14, 16, 26, 28, 30, 32, 34, 36, 40, 60, 100, 114, 258, 272, 284];

/** A port on `host` that refuses connections and keeps refusing them (see UNUSED_PRIVILEGED). */
export async function closedPort(host = "127.0.0.1"): Promise<number> {
  const start = Math.floor(Math.random() * UNUSED_PRIVILEGED.length);
  for (let i = 0; i < UNUSED_PRIVILEGED.length; i++) {
    const port = UNUSED_PRIVILEGED[(start + i) % UNUSED_PRIVILEGED.length] as number;
    if ((await probe(host, port)) === "refused") return port;
  }
  throw new Error(`every candidate closed port on ${host} accepts connections: ${UNUSED_PRIVILEGED}`);
}
