/**
 * A real OpenSSH sshd for tests: throwaway host key, key-only auth, listening on loopback addresses at a
 * port of its own. The login user is the user running the tests (root in CI) unless `user` says otherwise.
 *
 * As on a NixOS target: StrictModes stays on (sshd's default) whenever the directory holding
 * authorized_keys can pass its checks (every parent owned by root or the user and not group/world-writable),
 * which is the case when the tests run as root (CI). `permitOpen` writes the same restricted key line the
 * NixOS module writes on a target (nix/target.nix: `restrict,port-forwarding,permitopen=…`, via
 * test/nix/key-line.ts, which test/nix/target.test.ts holds to the module), so a test proves that line is enough.
 */
import { execFileSync } from "node:child_process";
import { chmodSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { homedir, tmpdir, userInfo } from "node:os";
import { dirname, join } from "node:path";
import { authorizedKeyLine } from "../nix/key-line.js";
import { reservedPort } from "./ports.js";
import { type Started, start, waitFor } from "./processes.js";

export interface SshdOptions {
  /** Loopback addresses to listen on (sshd allows at most 16). Default ["127.0.0.1"]. */
  addresses?: string[];
  /** A fixed port (all addresses share it); default: a reserved port, retried on EADDRINUSE. */
  port?: number;
  /** Options in front of the client key in authorized_keys, e.g. `restrict,port-forwarding,permitopen="127.0.0.1:9100"`. */
  keyOptions?: string;
  /**
   * Exporters the client key may reach: writes the generator's line, `restrict,port-forwarding,permitopen=…`.
   * Numbers mean 127.0.0.1:PORT. Takes precedence over keyOptions.
   */
  permitOpen?: Array<number | { host: string; port: number }>;
  /** Login user (AllowUsers); default the user running the tests. */
  user?: string;
  /** Extra sshd_config lines (sshd keeps the first value of a keyword: these cannot override the helper's own). */
  extraConfig?: string[];
  /** sshd's LogLevel (default VERBOSE; DEBUG3 logs each public key request as a query or a signed attempt). */
  logLevel?: string;
  /** Raise MaxStartups/MaxSessions for load tests. */
  highLimits?: boolean;
  /** Also the ECDSA and RSA host keys a stock sshd has besides Ed25519 (for tests of which key sshd shows). */
  stockHostKeys?: boolean;
}

export interface Sshd {
  port: number;
  addresses: string[];
  user: string;
  dir: string;
  /** StrictModes setting in effect (yes unless the directory could not pass sshd's checks). */
  strictModes: boolean;
  /** Client private key (OpenSSH format, no passphrase, mode 0600) and its public line. */
  clientKeyPath: string;
  clientKeyPub: string;
  /** Host public key line `ssh-ed25519 AAAA…`. */
  hostKeyPub: string;
  /** With `stockHostKeys`: the ECDSA and RSA host public keys, `type base64` each. */
  stockHostKeyPubs: { ecdsa: string; rsa: string } | undefined;
  /** known_hosts line for this sshd under the given name (default: every address, `[addr]:port` form). */
  knownHostsLine(names?: string[]): string;
  /** Replaces authorized_keys (sshd re-reads it on every login). */
  setAuthorizedKeys(content: string): void;
  /** Rewrites authorized_keys with the generator's restricted line for these destinations. */
  permitOpen(opens: Array<number | { host: string; port: number }>): void;
  /** Generates a new host key; takes effect on reload() or restart(). */
  replaceHostKey(): void;
  /** SIGHUP: sshd re-executes itself, re-reading its config and host keys, and binds its port again at once. */
  reload(): Promise<void>;
  /** Stops sshd (dropping every connection) and starts it again on the same port. */
  restart(): Promise<void>;
  stop(): Promise<void>;
  pid(): number | undefined;
  output(): string;
}

const dirs = new Set<string>();
process.once("exit", () => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

function keygen(path: string, comment: string, type = "ed25519"): string {
  execFileSync("ssh-keygen", ["-q", "-t", type, "-N", "", "-C", comment, "-f", path]);
  return readFileSync(`${path}.pub`, "utf8").trim();
}

/** sshd's StrictModes rule for the directories above authorized_keys (auth.c, auth_secure_path). */
function passesStrictModes(dir: string, uid: number): boolean {
  for (let d = dir; ; d = dirname(d)) {
    const st = statSync(d);
    if ((st.uid !== 0 && st.uid !== uid) || (st.mode & 0o022) !== 0) return false;
    if (d === "/") return true;
  }
}

/**
 * A fresh directory for one sshd (removed when the test process exits), where StrictModes can stay on: /run when root (root-owned, mode 0755,
 * traversable by a non-root login user), else ~/.cache; os.tmpdir() (mode 1777) as the last resort.
 */
export function sshdDir(): { dir: string; strict: boolean } {
  const uid = process.getuid?.() ?? -1;
  const bases = uid === 0 ? ["/run/sshscrape-tests"] : [join(homedir(), ".cache", "sshscrape-tests")];
  for (const base of bases) {
    try {
      mkdirSync(base, { recursive: true, mode: 0o755 });
      chmodSync(base, 0o755);
      if (!passesStrictModes(base, uid)) continue;
      const dir = mkdtempSync(join(base, "sshd-"));
      chmodSync(dir, 0o755);
      dirs.add(dir);
      return { dir, strict: true };
    } catch {
      // try the next base
    }
  }
  const dir = mkdtempSync(join(tmpdir(), "sshscrape-sshd-"));
  dirs.add(dir);
  return { dir, strict: false };
}

const toOpen = (o: number | { host: string; port: number }) =>
  typeof o === "number" ? { host: "127.0.0.1", port: o } : o;

export async function startSshd(options: SshdOptions = {}): Promise<Sshd> {
  const addresses = options.addresses ?? ["127.0.0.1"];
  const { dir, strict } = sshdDir();
  // sshd refuses to start without its privilege separation directory.
  mkdirSync("/run/sshd", { recursive: true, mode: 0o755 });
  const hostKeyPath = join(dir, "ssh_host_ed25519_key");
  let hostKeyPub = keygen(hostKeyPath, "");
  const stockHostKeyPath = (type: string) => join(dir, `ssh_host_${type}_key`);
  const stockHostKeyPubs = options.stockHostKeys
    ? {
        ecdsa: keygen(stockHostKeyPath("ecdsa"), "", "ecdsa"),
        rsa: keygen(stockHostKeyPath("rsa"), "", "rsa"),
      }
    : undefined;
  const clientKeyPath = join(dir, "client_key");
  const clientKeyPub = keygen(clientKeyPath, "sshscrape-test");
  const authorizedKeys = join(dir, "authorized_keys");
  // 0644: sshd reads it as the login user, who may not be the owner (StrictModes allows root-owned files).
  const setAuthorizedKeys = (content: string) => {
    writeFileSync(authorizedKeys, content, { mode: 0o644 });
    chmodSync(authorizedKeys, 0o644);
  };
  const permitOpen = (opens: Array<number | { host: string; port: number }>) =>
    setAuthorizedKeys(`${authorizedKeyLine(clientKeyPub, opens.map(toOpen))}\n`);
  if (options.permitOpen) permitOpen(options.permitOpen);
  else setAuthorizedKeys(`${options.keyOptions ? `${options.keyOptions} ` : ""}${clientKeyPub}\n`);
  const user = options.user ?? userInfo().username;
  const configPath = join(dir, "sshd_config");
  const writeConfig = (port: number) => {
    const config = [
      ...addresses.map((a) => `ListenAddress ${a.includes(":") ? `[${a}]` : a}:${port}`),
      `HostKey ${hostKeyPath}`,
      ...Object.keys(stockHostKeyPubs ?? {}).map((t) => `HostKey ${stockHostKeyPath(t)}`),
      `PidFile ${join(dir, "sshd.pid")}`,
      `AuthorizedKeysFile ${authorizedKeys}`,
      `StrictModes ${strict ? "yes" : "no"}`,
      `AllowUsers ${user}`,
      "UsePAM no",
      "PasswordAuthentication no",
      "KbdInteractiveAuthentication no",
      "PubkeyAuthentication yes",
      "PermitRootLogin prohibit-password",
      "AllowTcpForwarding yes",
      `LogLevel ${options.logLevel ?? "VERBOSE"}`,
      ...(options.highLimits ? ["MaxStartups 2000:100:4000", "MaxSessions 2000"] : []),
      ...(options.extraConfig ?? []),
    ];
    writeFileSync(configPath, `${config.join("\n")}\n`);
  };
  let proc: Started | undefined;
  let port = options.port ?? reservedPort();

  // waitFor swallows errors thrown by its check; surface the bind failure through this flag instead.
  const launch = async () => {
    const p = start("/usr/sbin/sshd", ["-D", "-e", "-f", configPath]);
    proc = p;
    let inUse = false;
    try {
      await waitFor(`sshd listening on ${addresses.join(", ")} port ${port}`, () => {
        const out = p.output();
        if (/Bind to port \d+ on \S+ failed: Address already in use/.test(out)) inUse = true;
        if (inUse || p.child.exitCode !== null) return true;
        return addresses.every((a) => out.includes(`Server listening on ${a} port ${port}.`));
      });
    } catch (err) {
      await p.stop();
      throw new Error(`${(err as Error).message}\n${p.output()}`);
    }
    if (inUse || p.child.exitCode !== null) {
      await p.stop();
      throw Object.assign(new Error(`sshd did not start on port ${port}:\n${p.output()}`), {
        code: inUse ? "EADDRINUSE" : "ESSHD",
      });
    }
  };
  for (let attempt = 0; ; attempt++) {
    writeConfig(port);
    try {
      await launch();
      break;
    } catch (err) {
      const code = (err as { code?: string }).code;
      if (code !== "EADDRINUSE" || options.port !== undefined || attempt >= 7) throw err;
      port = reservedPort();
    }
  }

  return {
    port,
    addresses,
    user,
    dir,
    strictModes: strict,
    clientKeyPath,
    clientKeyPub,
    get hostKeyPub() {
      return hostKeyPub;
    },
    stockHostKeyPubs,
    knownHostsLine(names = addresses) {
      const key = hostKeyPub.split(" ").slice(0, 2).join(" ");
      return `${names.map((n) => (port === 22 ? n : `[${n}]:${port}`)).join(",")} ${key}`;
    },
    setAuthorizedKeys,
    permitOpen,
    replaceHostKey() {
      rmSync(hostKeyPath, { force: true });
      rmSync(`${hostKeyPath}.pub`, { force: true });
      hostKeyPub = keygen(hostKeyPath, "");
    },
    async reload() {
      const p = proc;
      if (!p || p.child.exitCode !== null) throw new Error("sshd is not running");
      const before = p.output().length;
      p.child.kill("SIGHUP");
      await waitFor(`sshd re-listening after SIGHUP\n${p.output()}`, () => {
        const out = p.output().slice(before);
        if (p.child.exitCode !== null) throw new Error(`sshd exited on SIGHUP: ${out}`);
        return addresses.every((a) => out.includes(`Server listening on ${a} port ${port}.`));
      });
    },
    async restart() {
      await proc?.stop();
      // The port was ours a moment ago; sshd sets SO_REUSEADDR, so only a new owner could refuse it.
      await launch();
    },
    async stop() {
      await proc?.stop();
    },
    pid: () => proc?.child.pid,
    output: () => proc?.output() ?? "",
  };
}
