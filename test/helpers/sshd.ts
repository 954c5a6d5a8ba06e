/**
 * A real OpenSSH sshd for tests: throwaway host key, key-only auth, TCP forwarding allowed, listening on
 * loopback addresses at a free high port. The login user is the user running the tests (root in CI).
 */
import { execFileSync } from "node:child_process";
import { mkdirSync, mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { Socket } from "node:net";
import { tmpdir, userInfo } from "node:os";
import { join } from "node:path";
import { freePort, type Started, start, waitFor } from "./processes.js";

export interface SshdOptions {
  /** Loopback addresses to listen on (sshd allows at most 16). Default ["127.0.0.1"]. */
  addresses?: string[];
  port?: number;
  /** Options in front of the client key in authorized_keys, e.g. `restrict,port-forwarding,permitopen="127.0.0.1:9100"`. */
  keyOptions?: string;
  /** Extra sshd_config lines. */
  extraConfig?: string[];
  /** Raise MaxStartups/MaxSessions for load tests. */
  highLimits?: boolean;
}

export interface Sshd {
  port: number;
  addresses: string[];
  user: string;
  dir: string;
  /** Client private key (OpenSSH format, no passphrase, mode 0600) and its public line. */
  clientKeyPath: string;
  clientKeyPub: string;
  /** Host public key line `ssh-ed25519 AAAA…`. */
  hostKeyPub: string;
  /** known_hosts line for this sshd under the given name (default: every address, `[addr]:port` form). */
  knownHostsLine(names?: string[]): string;
  /** Replaces authorized_keys (sshd re-reads it on every login). */
  setAuthorizedKeys(content: string): void;
  /** Generates a new host key; takes effect on restart(). */
  replaceHostKey(): void;
  restart(): Promise<void>;
  stop(): Promise<void>;
  pid(): number | undefined;
  output(): string;
}

function keygen(path: string, comment: string): string {
  execFileSync("ssh-keygen", ["-q", "-t", "ed25519", "-N", "", "-C", comment, "-f", path]);
  return readFileSync(`${path}.pub`, "utf8").trim();
}

export async function startSshd(options: SshdOptions = {}): Promise<Sshd> {
  const addresses = options.addresses ?? ["127.0.0.1"];
  const port = options.port ?? (await freePort(addresses[0]));
  const dir = mkdtempSync(join(tmpdir(), "sshscrape-sshd-"));
  // sshd refuses to start without its privilege separation directory.
  mkdirSync("/run/sshd", { recursive: true, mode: 0o755 });
  const hostKeyPath = join(dir, "ssh_host_ed25519_key");
  let hostKeyPub = keygen(hostKeyPath, "");
  const clientKeyPath = join(dir, "client_key");
  const clientKeyPub = keygen(clientKeyPath, "sshscrape-test");
  const authorizedKeys = join(dir, "authorized_keys");
  const setAuthorizedKeys = (content: string) => writeFileSync(authorizedKeys, content, { mode: 0o600 });
  setAuthorizedKeys(`${options.keyOptions ? `${options.keyOptions} ` : ""}${clientKeyPub}\n`);
  const user = userInfo().username;
  const config = [
    ...addresses.map((a) => `ListenAddress ${a.includes(":") ? `[${a}]` : a}:${port}`),
    `HostKey ${hostKeyPath}`,
    `PidFile ${join(dir, "sshd.pid")}`,
    `AuthorizedKeysFile ${authorizedKeys}`,
    "StrictModes no",
    "UsePAM no",
    "PasswordAuthentication no",
    "KbdInteractiveAuthentication no",
    "PubkeyAuthentication yes",
    "PermitRootLogin prohibit-password",
    "AllowTcpForwarding yes",
    "LogLevel VERBOSE",
    ...(options.highLimits ? ["MaxStartups 2000:100:4000", "MaxSessions 2000"] : []),
    ...(options.extraConfig ?? []),
  ];
  const configPath = join(dir, "sshd_config");
  writeFileSync(configPath, `${config.join("\n")}\n`);
  let proc: Started | undefined;

  const launch = async () => {
    proc = start("/usr/sbin/sshd", ["-D", "-e", "-f", configPath]);
    const p = proc;
    await waitFor(`sshd on ${addresses[0]}:${port}\n${p.output()}`, () => {
      if (p.child.exitCode !== null) throw new Error(`sshd exited: ${p.output()}`);
      return bannerSeen(addresses[0] ?? "127.0.0.1", port);
    });
  };
  await launch();

  return {
    port,
    addresses,
    user,
    dir,
    clientKeyPath,
    clientKeyPub,
    get hostKeyPub() {
      return hostKeyPub;
    },
    knownHostsLine(names = addresses) {
      const key = hostKeyPub.split(" ").slice(0, 2).join(" ");
      return `${names.map((n) => (port === 22 ? n : `[${n}]:${port}`)).join(",")} ${key}`;
    },
    setAuthorizedKeys,
    replaceHostKey() {
      execFileSync("rm", ["-f", hostKeyPath, `${hostKeyPath}.pub`]);
      hostKeyPub = keygen(hostKeyPath, "");
    },
    async restart() {
      await proc?.stop();
      await launch();
    },
    async stop() {
      await proc?.stop();
    },
    pid: () => proc?.child.pid,
    output: () => proc?.output() ?? "",
  };
}

async function bannerSeen(host: string, port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = new Socket();
    const done = (ok: boolean) => {
      s.destroy();
      resolve(ok);
    };
    s.setTimeout(1000, () => done(false));
    s.once("error", () => done(false));
    s.once("data", (d) => done(d.toString().startsWith("SSH-2.0")));
    s.connect(port, host);
  });
}
