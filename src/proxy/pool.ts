/**
 * The SSH connection pool: one ssh2 Client per (user, host, ssh port, jump), shared by every request to
 * that host; each request opens its own direct-tcpip channel (RFC 4254 §7.2). Ported from the idea of
 * sshified's sshclientpool.go (race-safe get-or-create, count channels, close at zero) with its gaps fixed:
 * concurrent first requests share one handshake, handshakes are bounded, a dead host backs off instead of
 * being re-dialled by every scrape, and idle connections close.
 */
import type { Socket } from "node:net";
import type { Logger } from "pino";
import type { ClientChannel, PublicKeyAuthMethod, ServerHostKeyAlgorithm } from "ssh2";
import { markNoDelay } from "./ack-nudge.js";
import { abortable, Deadline, withTimeout } from "./deadline.js";
import {
  BackoffError,
  ChannelOpenError,
  describeCause,
  HostKeyError,
  type ProxyError,
  ShuttingDownError,
  SshAuthError,
  SshConnectError,
  SshHandshakeError,
  TimeoutError,
} from "./errors.js";
import { hostKeyAlgorithms } from "./host-key-algorithms.js";
import type { KeyStore } from "./keys.js";
import type { KnownHosts } from "./known-hosts.js";
import type { ProxyMetrics } from "./metrics.js";
import type { Phase } from "./proxy-error.js";
import { signPublicKeyDirectly } from "./publickey-direct.js";
import { type Priority, Semaphore } from "./semaphore.js";
import { endpointName, type ProxyTimeouts, type SshEndpoint } from "./settings.js";
import { connectSshSocket } from "./ssh-read.js";
import {
  batchPacketPadding,
  postponeKeepalive,
  releaseHandshakeState,
  skipHostKeysProof,
  unpooledCopy,
} from "./ssh2-internals.js";
import { Client } from "./ssh2-lib.js";

export interface PoolOptions {
  timeouts: ProxyTimeouts;
  maxHandshakes: number;
  /** proxy.noDelaySession: open a session on each connection so that sshd turns Nagle off (see noDelay). */
  noDelaySession?: boolean;
  keys: KeyStore;
  /** The current known_hosts (swapped on reload). */
  knownHosts: () => KnownHosts;
  metrics: ProxyMetrics;
  logger: Logger;
}

interface Connection {
  name: string;
  /** The endpoint's host and SSH port as known_hosts looks them up, and the key the server showed. */
  host: string;
  port: number;
  hostKey?: Buffer;
  client: Client;
  channels: number;
  closed: boolean;
  since: number;
  /** When the server last sent anything (Date.now()): the keepalive sweep postpones pings until it is old. */
  lastRx: number;
  idleTimer?: NodeJS.Timeout;
}

interface Attempt {
  promise: Promise<Connection>;
  /** Where the shared attempt is now, so a waiter that times out can name the phase. */
  phase: Phase;
  /** Its place in the handshake queue: background for preconnect until a request comes to share it. */
  priority: Priority;
}

/** Per-host state for `/targets`. */
export interface HostState {
  host: string;
  state: "connected" | "connecting" | "backoff" | "disconnected";
  channels: number;
  connectedSince?: string;
  backoffUntil?: string;
  lastError?: { code: string; phase: Phase; message: string; at: string };
}

/** A channel-open failure on a connection that turned out dead: the caller may retry once on a fresh one. */
class DeadConnection extends Error {}

export class SshPool {
  private readonly conns = new Map<string, Connection>();
  private readonly attempts = new Map<string, Attempt>();
  private readonly failures = new Map<string, { error: ProxyError; until: number }>();
  private readonly lastErrors = new Map<string, { error: ProxyError; at: number }>();
  private readonly slots: Semaphore;
  private closing = false;
  /** Sockets and clients of attempts still handshaking, destroyed on close(). */
  private readonly pending = new Set<{ destroy(): unknown }>();
  /** The connection each channel runs on, to tell an exporter's failure from the SSH connection's. */
  private readonly owners = new WeakMap<ClientChannel, Connection>();
  /** Runs while there are connections: see sweepKeepalives(). */
  private keepaliveSweep?: NodeJS.Timeout;

  constructor(private readonly opts: PoolOptions) {
    this.slots = new Semaphore(opts.maxHandshakes);
  }

  /**
   * A direct-tcpip channel to `dstHost:dstPort` as seen from `endpoint`, within the request's deadline.
   * A channel-open failure on a connection that turns out dead drops it and retries once on a fresh one.
   */
  async openChannel(
    endpoint: SshEndpoint,
    dstHost: string,
    dstPort: number,
    deadline: Deadline,
    signal?: AbortSignal,
  ): Promise<ClientChannel> {
    for (let attempt = 0; ; attempt++) {
      const conn = await this.connection(endpoint, deadline, signal);
      try {
        return await this.forward(conn, dstHost, dstPort, deadline, signal);
      } catch (err) {
        if (!(err instanceof DeadConnection)) throw err;
        this.drop(conn, "channel open found it dead");
        const failure = new ChannelOpenError(conn.name, joinRemote(dstHost, dstPort), err.cause);
        if (attempt >= 1 || deadline.remaining() === 0) throw failure;
        this.opts.logger.info({ host: conn.name }, "SSH connection was dead; reconnecting once");
      }
    }
  }

  /**
   * Opens the connection to `endpoint` ahead of any request (proxy.preconnect), queueing behind any
   * request for a handshake slot. Waits as long as the queue takes: the attempt's own connect and handshake
   * timeouts bound it once it has a slot. A failure is not lost: the attempt logs it, records it for
   * /targets and starts the host's backoff, as for a request.
   */
  async warm(endpoint: SshEndpoint): Promise<boolean> {
    try {
      const found = this.liveOrAttempt(endpoint, { background: true });
      if ("promise" in found) await found.promise;
      return true;
    } catch {
      return false;
    }
  }

  /** The pooled connection for `endpoint`: existing, in the making (shared), or a new attempt. */
  private async connection(
    endpoint: SshEndpoint,
    deadline: Deadline,
    signal?: AbortSignal,
  ): Promise<Connection> {
    const found = this.liveOrAttempt(endpoint, { background: false });
    if (!("promise" in found)) return found;
    const name = endpointName(endpoint);
    return abortable(
      withTimeout(
        found.promise,
        deadline.remaining(),
        () => reportedPhase(found.phase),
        () =>
          found.phase === "queue"
            ? `waiting for a free handshake slot for ${name} (proxy.maxHandshakes)`
            : `waiting for the SSH connection to ${name} (at ${found.phase})`,
      ),
      signal,
    );
  }

  /**
   * The live connection to `endpoint`, or the attempt making it: joined if one is under way (a foreground
   * caller raises a background attempt's priority), else started. Throws while closing or in backoff.
   */
  private liveOrAttempt(endpoint: SshEndpoint, priority: Priority): Connection | Attempt {
    if (this.closing) throw new ShuttingDownError();
    const name = endpointName(endpoint);
    const live = this.conns.get(name);
    if (live && !live.closed) return live;
    const failed = this.failures.get(name);
    const now = Date.now();
    if (failed && failed.until > now) throw new BackoffError(name, failed.error, failed.until - now);
    const attempt = this.attempts.get(name);
    if (!attempt) return this.startAttempt(endpoint, name, priority);
    if (!priority.background && attempt.priority.background) {
      attempt.priority.background = false;
      if (attempt.phase === "queue")
        this.opts.logger.debug(
          { host: name },
          "a request raised the host's queued preconnect ahead of the rest",
        );
    }
    return attempt;
  }

  private startAttempt(endpoint: SshEndpoint, name: string, priority: Priority): Attempt {
    const t = this.opts.timeouts;
    const attempt: Attempt = {
      phase: "queue",
      priority,
      promise: Promise.resolve(undefined as unknown as Connection),
    };
    attempt.promise = (async () => {
      let jump: Connection | undefined;
      if (endpoint.jump) {
        // The bastion is a pooled connection of its own; its failures are this host's failures.
        attempt.phase = "ssh-connect";
        jump = await this.connection(endpoint.jump, new Deadline(t.connect + t.handshake));
      }
      attempt.phase = "queue";
      // A request's wait is bounded by its own deadline (connection()); the queue bound only frees the slot
      // of an attempt nobody waits for. A background attempt has no bound: it goes when requests let it.
      const release = await this.slots
        .acquire(attempt.priority.background ? undefined : AbortSignal.timeout(t.request), attempt.priority)
        .catch(() => {
          throw new TimeoutError(
            "queue",
            `waiting for a free handshake slot (proxy.maxHandshakes)`,
            t.request,
          );
        });
      if (this.closing) {
        release();
        throw new ShuttingDownError();
      }
      const started = performance.now();
      try {
        attempt.phase = "ssh-connect";
        const sock = jump ? await this.viaJump(jump, endpoint, name) : await this.dial(endpoint, name);
        attempt.phase = "ssh-handshake";
        const conn = await this.handshake(sock, endpoint, name, attempt);
        this.opts.metrics.handshakes.inc({ host: name, result: "success" });
        this.opts.metrics.sshConnected(name, (performance.now() - started) / 1000);
        this.register(conn);
        return conn;
      } catch (err) {
        const e = err as ProxyError;
        this.opts.metrics.handshakes.inc({ host: name, result: "failure" });
        this.opts.metrics.up.set({ host: name }, 0);
        this.opts.metrics.sshFailed(name, e.code, e.phase);
        this.failures.set(name, { error: e, until: Date.now() + t.backoff });
        this.lastErrors.set(name, { error: e, at: Date.now() });
        this.opts.logger.warn(
          { host: name, phase: e.phase, code: e.code, cause: e.message },
          "SSH connection failed",
        );
        throw err;
      } finally {
        release();
      }
    })();
    attempt.promise.then(
      () => this.attempts.delete(name),
      () => this.attempts.delete(name),
    );
    this.attempts.set(name, attempt);
    return attempt;
  }

  /**
   * TCP connect with Nagle off: ssh2 never calls setNoDelay, and each channel then costs ~40 ms. The socket is
   * read up to 1 MB at a time (ssh-read.ts).
   */
  private dial(endpoint: SshEndpoint, name: string): Promise<Socket> {
    const ms = this.opts.timeouts.connect;
    return new Promise((resolve, reject) => {
      const sock = connectSshSocket({ host: endpoint.host, port: endpoint.port });
      sock.setNoDelay(true);
      this.pending.add(sock);
      sock.once("close", () => this.pending.delete(sock));
      const timer = setTimeout(() => {
        cleanup();
        sock.destroy();
        reject(new TimeoutError("ssh-connect", `TCP connect to ${name}`, ms));
      }, ms);
      const onError = (err: Error) => {
        cleanup();
        sock.destroy();
        reject(new SshConnectError(name, err));
      };
      const onConnect = () => {
        cleanup();
        resolve(sock);
      };
      const cleanup = () => {
        clearTimeout(timer);
        sock.off("error", onError);
        sock.off("connect", onConnect);
      };
      sock.once("error", onError);
      sock.once("connect", onConnect);
    });
  }

  /**
   * proxy.noDelaySession: one exec session right after login, closed as soon as sshd accepts it. sshd sets
   * TCP_NODELAY on the connection when it starts any session's command (OpenSSH's
   * ssh_packet_set_interactive; strace: `setsockopt(TCP_NODELAY)` before the command's execve, with or
   * without a pty) and never clears it, so the tail of every later response leaves sshd at once instead of
   * waiting for this side's delayed ACK (docs/benchmarks.md, "Latency at c=1"). The command is `true`; a
   * target's ForceCommand (the NixOS target module: `false`) or the key's `command=` replaces it. Best
   * effort: a refused or failed session changes nothing else.
   */
  private noDelay(client: Client, name: string): void {
    const refused = (err: unknown) =>
      this.opts.logger.info(
        { host: name, cause: describeCause(err) },
        "no session for TCP_NODELAY on this SSH connection (proxy.noDelaySession); scrapes are unaffected",
      );
    try {
      client.exec("true", (err, stream) => {
        if (err) {
          refused(err);
          return;
        }
        markNoDelay(client);
        stream.on("error", () => {});
        stream.stderr.resume();
        stream.resume();
        stream.close();
      });
    } catch (err) {
      refused(err); // the connection closed under it
    }
  }

  /** The bastion opens a direct-tcpip channel to the target's sshd; that channel is the target's socket. */
  private async viaJump(jump: Connection, endpoint: SshEndpoint, name: string): Promise<ClientChannel> {
    try {
      return await this.forward(jump, endpoint.host, endpoint.port, new Deadline(this.opts.timeouts.connect));
    } catch (err) {
      if (err instanceof TimeoutError)
        throw new TimeoutError("ssh-connect", `connect to ${name}`, err.budget);
      throw new SshConnectError(name, err instanceof DeadConnection ? err.cause : err);
    }
  }

  private handshake(sock: Socket | ClientChannel, endpoint: SshEndpoint, name: string, attempt: Attempt) {
    const t = this.opts.timeouts;
    // With an ssh-agent, ssh2 asks the agent to sign (its keys never enter this process); else the loaded file.
    const key = endpoint.agent ? undefined : this.opts.keys.get(endpoint.keyFile);
    const keyName = endpoint.agent ? `${endpoint.agent} (ssh-agent)` : endpoint.keyFile;
    const knownHosts = this.opts.knownHosts();
    return new Promise<Connection>((resolve, reject) => {
      const client = new Client();
      this.pending.add(client);
      let hostKeyError: HostKeyError | undefined;
      let ready = false;
      const conn: Connection = {
        name,
        host: endpoint.host,
        port: endpoint.port,
        client,
        channels: 0,
        closed: false,
        since: Date.now(),
        lastRx: Date.now(),
      };
      const fail = (e: ProxyError) => {
        if (ready) return;
        ready = true; // settle once
        this.pending.delete(client);
        clearTimeout(timer);
        client.destroy();
        reject(e);
      };
      const timer = setTimeout(
        () => fail(new TimeoutError("ssh-handshake", `SSH handshake with ${name}`, t.handshake)),
        t.handshake,
      );
      client.on("ready", () => {
        if (ready) return;
        ready = true;
        this.pending.delete(client);
        clearTimeout(timer);
        releaseHandshakeState(client);
        batchPacketPadding(client);
        if (this.opts.noDelaySession) this.noDelay(client, name);
        resolve(conn);
      });
      // One 'error' listener for the client's whole life: an ssh2 error must never crash the process.
      client.on("error", (err: Error & { level?: string }) => {
        if (!ready) {
          if (hostKeyError) fail(hostKeyError);
          else if (err.level === "client-authentication") fail(new SshAuthError(name, keyName, err));
          else fail(new SshHandshakeError(name, err));
          return;
        }
        this.lastErrors.set(name, { error: new SshHandshakeError(name, err), at: Date.now() });
        this.opts.logger.warn({ host: name, cause: describeCause(err) }, "SSH connection error");
      });
      client.on("close", () => {
        fail(new SshHandshakeError(name, new Error("connection closed by the server during the handshake")));
        this.onClosed(conn);
      });
      sock.on("error", () => {
        // ssh2 reports socket errors through the client's 'error' event; this only keeps node from throwing.
      });
      sock.on("data", () => {
        conn.lastRx = Date.now();
      });
      try {
        client.connect({
          sock,
          username: endpoint.user,
          // The key parsed once at load, not the file: ssh2 would parse it on every handshake. Public key
          // only: ssh2's default first tries "none", a round trip every sshd with keys alone refuses.
          ...(key ? { authHandler: publicKeyOnly(endpoint.user, key.parsed) } : { agent: endpoint.agent }),
          // The algorithms of the host's known key types first, as OpenSSH's ssh does (host-key-algorithms.ts).
          ...hostKeyAlgorithmsFor(knownHosts, endpoint),
          // Strict checking against known_hosts: an unknown or changed key is refused, never learned.
          hostVerifier: (blob: Buffer) => {
            attempt.phase = "host-key";
            const verdict = knownHosts.verify(endpoint.host, endpoint.port, blob);
            if (verdict.ok) {
              // A copy: `blob` is a view into the whole key-exchange reply, kept for the connection's life
              // (and outside the Buffer pool, whose slabs it would pin: see ssh2-internals.ts).
              conn.hostKey = unpooledCopy(blob);
              attempt.phase = "ssh-auth";
              return true;
            }
            hostKeyError = new HostKeyError(verdict.reason, verdict.message);
            return false;
          },
          keepaliveInterval: t.keepaliveInterval,
          keepaliveCountMax: t.keepaliveCountMax,
          readyTimeout: 0,
        });
        // Known_hosts decides trust; ssh2's proof of every announced host key would be a round trip and a
        // signature check per key for an event nothing here listens to (ssh2-internals.ts).
        skipHostKeysProof(client);
        // The signed request first, without ssh2's "would you accept this key?" round trip (publickey-direct.ts).
        if (key) signPublicKeyDirectly(client, key.parsed);
      } catch (err) {
        fail(new SshHandshakeError(name, err));
      }
    });
  }

  private register(conn: Connection): void {
    if (conn.closed) return;
    this.conns.get(conn.name)?.client.end();
    this.conns.set(conn.name, conn);
    this.failures.delete(conn.name);
    this.opts.metrics.connections.set(this.conns.size);
    this.opts.metrics.up.set({ host: conn.name }, 1);
    this.opts.logger.debug({ host: conn.name }, "SSH connection established");
    this.armIdle(conn);
    const interval = this.opts.timeouts.keepaliveInterval;
    if (!this.keepaliveSweep && interval > 0) {
      this.keepaliveSweep = setInterval(() => this.sweepKeepalives(), interval / 3);
      this.keepaliveSweep.unref();
    }
  }

  /**
   * Keepalives only for connections that went quiet, as OpenSSH's ServerAliveInterval does: every third of
   * keepaliveInterval, each connection that received anything within the last keepaliveInterval has ssh2's
   * keepalive postponed by a full interval (postponeKeepalive). A connection scraped at least once per
   * interval then sends none; one silent for an interval is pinged as before, and ssh2 still closes it after
   * keepaliveCountMax unanswered pings — at most an interval and a third later than without the sweep.
   */
  private sweepKeepalives(): void {
    if (this.conns.size === 0) {
      clearInterval(this.keepaliveSweep);
      this.keepaliveSweep = undefined;
      return;
    }
    const quiet = Date.now() - this.opts.timeouts.keepaliveInterval;
    for (const conn of this.conns.values())
      if (!conn.closed && conn.lastRx > quiet) postponeKeepalive(conn.client);
  }

  private forward(
    conn: Connection,
    dstHost: string,
    dstPort: number,
    deadline: Deadline,
    signal?: AbortSignal,
  ): Promise<ClientChannel> {
    const remote = joinRemote(dstHost, dstPort);
    const ms = deadline.phaseBudget(this.opts.timeouts.channelOpen);
    return new Promise((resolve, reject) => {
      let settled = false;
      const settle = () => {
        settled = true;
        clearTimeout(timer);
        signal?.removeEventListener("abort", onAbort);
      };
      const timer = setTimeout(() => {
        settle();
        reject(new TimeoutError("channel-open", `opening a channel to ${remote} on ${conn.name}`, ms));
      }, ms);
      const onAbort = () => {
        settle();
        reject(signal?.reason);
      };
      signal?.addEventListener("abort", onAbort, { once: true });
      const onOpen = (err: (Error & { reason?: unknown }) | undefined, ch: ClientChannel | undefined) => {
        if (ch) this.track(conn, ch);
        if (settled) {
          // The request gave up while the channel was being opened: close it instead of leaking it, and read
          // it to its end: ssh2 emits a direct-tcpip channel's 'close' (which uncounts it, in track) only once
          // its readable side has ended, and nobody else reads it (test/proxy/channel-open-abandoned.test.ts).
          ch?.close();
          ch?.resume();
          return;
        }
        settle();
        if (err || !ch) {
          // A refusal from sshd carries a reason code (RFC 4254 §5.1); without one the connection is gone.
          if (conn.closed || err?.reason === undefined) reject(new DeadConnection("dead", { cause: err }));
          else reject(new ChannelOpenError(conn.name, remote, err));
          return;
        }
        resolve(ch);
      };
      try {
        if (conn.closed) throw new Error("Not connected");
        conn.client.forwardOut("127.0.0.1", 0, dstHost, dstPort, onOpen);
      } catch (err) {
        settle();
        reject(new DeadConnection("dead", { cause: err }));
      }
    });
  }

  /** True when the SSH connection that carried `channel` has closed (the channel died with it). */
  connectionLost(channel: ClientChannel): boolean {
    return this.owners.get(channel)?.closed === true;
  }

  /** The pooled-connection name (`user@host:port`) a channel runs on. */
  connectionName(channel: ClientChannel): string | undefined {
    return this.owners.get(channel)?.name;
  }

  private track(conn: Connection, ch: ClientChannel): void {
    this.owners.set(ch, conn);
    conn.channels++;
    this.opts.metrics.channels.inc();
    clearTimeout(conn.idleTimer);
    ch.on("error", (err: Error) =>
      this.opts.logger.debug({ host: conn.name, cause: err.message }, "channel error"),
    );
    let open = true;
    ch.once("close", () => {
      if (!open) return;
      open = false;
      conn.channels--;
      this.opts.metrics.channels.dec();
      if (conn.channels === 0) this.armIdle(conn);
    });
  }

  /** Closes the connection after proxy.idleTimeout without channels (sshified never closes them). */
  private armIdle(conn: Connection): void {
    clearTimeout(conn.idleTimer);
    if (conn.closed) return;
    conn.idleTimer = setTimeout(() => {
      if (conn.channels === 0) this.drop(conn, "idle");
    }, this.opts.timeouts.idle);
    conn.idleTimer.unref();
  }

  /**
   * After a reload: closes every connection whose host key the current known_hosts no longer accepts (a
   * replaced or @revoked key), so trust withdrawn in known_hosts takes effect now rather than when the
   * connection happens to end. The next request reconnects and gets the 502 that names the mismatch.
   * Returns the names of the closed connections.
   */
  recheckHostKeys(): string[] {
    const knownHosts = this.opts.knownHosts();
    const closed: string[] = [];
    for (const conn of [...this.conns.values()]) {
      if (!conn.hostKey) continue;
      const verdict = knownHosts.verify(conn.host, conn.port, conn.hostKey);
      if (verdict.ok) continue;
      this.opts.logger.warn(
        { host: conn.name, code: verdict.reason, cause: verdict.message },
        "closing SSH connection: known_hosts no longer accepts its host key",
      );
      this.drop(conn, "host key no longer accepted after reload");
      closed.push(conn.name);
    }
    return closed;
  }

  /**
   * After a reload that removed hosts (or moved them to another shard): closes the idle connections whose
   * endpoint is not in `keep`; one still carrying channels closes by the idle timer once they finish.
   * Returns the names of the closed connections.
   */
  closeUnlisted(keep: Set<string>): string[] {
    const closed: string[] = [];
    for (const conn of [...this.conns.values()]) {
      if (keep.has(conn.name) || conn.channels > 0) continue;
      this.drop(conn, "no longer in the target list");
      closed.push(conn.name);
    }
    return closed;
  }

  private drop(conn: Connection, why: string): void {
    this.opts.logger.debug({ host: conn.name, why }, "closing SSH connection");
    this.forget(conn);
    conn.client.end();
    // end() waits for the server; a dead peer never answers.
    setTimeout(() => conn.client.destroy(), 1000).unref();
  }

  private forget(conn: Connection): void {
    conn.closed = true;
    clearTimeout(conn.idleTimer);
    if (this.conns.get(conn.name) === conn) {
      this.conns.delete(conn.name);
      this.opts.metrics.connections.set(this.conns.size);
      this.opts.metrics.up.set({ host: conn.name }, 0);
    }
  }

  private onClosed(conn: Connection): void {
    if (conn.closed) return;
    const wasPooled = this.conns.get(conn.name) === conn;
    this.forget(conn);
    if (wasPooled) this.opts.logger.info({ host: conn.name }, "SSH connection closed");
  }

  /** After a reload (new known_hosts or key) every host may be tried again at once. */
  clearBackoff(): void {
    this.failures.clear();
  }

  state(): HostState[] {
    const names = new Set([...this.conns.keys(), ...this.attempts.keys(), ...this.lastErrors.keys()]);
    const now = Date.now();
    return [...names].sort().map((host) => {
      const conn = this.conns.get(host);
      const failed = this.failures.get(host);
      const last = this.lastErrors.get(host);
      const state: HostState["state"] = conn
        ? "connected"
        : this.attempts.has(host)
          ? "connecting"
          : failed && failed.until > now
            ? "backoff"
            : "disconnected";
      return {
        host,
        state,
        channels: conn?.channels ?? 0,
        connectedSince: conn ? new Date(conn.since).toISOString() : undefined,
        backoffUntil: state === "backoff" && failed ? new Date(failed.until).toISOString() : undefined,
        lastError: last
          ? {
              code: last.error.code,
              phase: last.error.phase,
              message: last.error.message,
              at: new Date(last.at).toISOString(),
            }
          : undefined,
      };
    });
  }

  get size(): number {
    return this.conns.size;
  }

  /** Ends every connection (SSH disconnect, then the socket); resolves when all are closed or after `ms`. */
  async close(ms = 2000): Promise<void> {
    this.closing = true;
    clearInterval(this.keepaliveSweep);
    for (const p of this.pending) p.destroy();
    this.pending.clear();
    const conns = [...this.conns.values()];
    await Promise.all(
      conns.map(
        (c) =>
          new Promise<void>((resolve) => {
            const timer = setTimeout(() => {
              c.client.destroy();
              resolve();
            }, ms);
            c.client.once("close", () => {
              clearTimeout(timer);
              resolve();
            });
            this.forget(c);
            c.client.end();
          }),
      ),
    );
  }
}

/** ssh2's `algorithms` option when the host's known key types need another order than ssh2's default. */
function hostKeyAlgorithmsFor(
  knownHosts: KnownHosts,
  endpoint: { host: string; port: number },
): { algorithms?: { serverHostKey: ServerHostKeyAlgorithm[] } } {
  const serverHostKey = hostKeyAlgorithms(knownHosts.keyTypes(endpoint.host, endpoint.port));
  return serverHostKey ? { algorithms: { serverHostKey } } : {};
}

function publicKeyOnly(username: string, key: PublicKeyAuthMethod["key"]): PublicKeyAuthMethod[] {
  return [{ type: "publickey", username, key }];
}

/** 504 bodies name the four phases users know; host-key and auth checks are part of the handshake. */
function reportedPhase(p: Phase): Phase {
  if (p === "host-key" || p === "ssh-auth") return "ssh-handshake";
  if (p === "queue") return "ssh-connect";
  return p;
}

function joinRemote(host: string, port: number): string {
  return host.includes(":") ? `[${host}]:${port}` : `${host}:${port}`;
}
