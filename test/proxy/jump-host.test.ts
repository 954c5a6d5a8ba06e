/**
 * A target behind a bastion, set up so that a mix-up between the two shows:
 * - the target (OpenSSH sshd, its own host key, login user = the test user) and its exporter live in a
 *   network namespace of their own, so nothing on the host's loopback reaches them — only the bastion;
 * - the bastion is a second OpenSSH sshd with its own host key and its own login user (`nobody`), run by
 *   inetd-style `sshd -i` inside that namespace for each connection accepted on the host's 127.0.0.6, so it
 *   can reach the target and the proxy can reach it;
 * - each side's authorized_keys is the generator's restricted line: the bastion may forward only to the
 *   target's sshd, the target only to its exporter.
 * One key serves both logins: the target list has one key per route (ssh.key or the host's key), so there is
 * no key mix-up to provoke. Needs root (network namespaces; CI runs as root); skipped otherwise.
 */
import { type ChildProcess, execFileSync, spawn } from "node:child_process";
import { readFileSync, writeFileSync } from "node:fs";
import { type AddressInfo, createServer, type Server, type Socket } from "node:net";
import { userInfo } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startProxy } from "../../src/proxy/index.js";
import type { ProxyRuntime } from "../../src/proxy/settings.js";
import { probe } from "../helpers/ports.js";
import { type Started, start, waitFor } from "../helpers/processes.js";
import { memoryLogger, metricValue, runtimeFor, viaProxy } from "../helpers/proxy.js";
import { sshdDir } from "../helpers/sshd.js";
import { authorizedKeyLine } from "../nix/key-line.js";

const TARGET = "127.0.0.5";
const BASTION = "127.0.0.6";
const BASTION_USER = "nobody";
const EXPORTER_PORT = 9100;
const isRoot = process.getuid?.() === 0;

function keygen(path: string): string {
  execFileSync("ssh-keygen", ["-q", "-t", "ed25519", "-N", "", "-C", "", "-f", path]);
  return readFileSync(`${path}.pub`, "utf8").trim().split(" ").slice(0, 2).join(" ");
}

function sshdConfig(dir: string, user: string, listen?: string): string {
  const lines = [
    ...(listen ? [`ListenAddress ${listen}`] : []),
    `HostKey ${join(dir, "host_key")}`,
    `PidFile ${join(dir, "sshd.pid")}`,
    `AuthorizedKeysFile ${join(dir, "authorized_keys")}`,
    "StrictModes yes",
    `AllowUsers ${user}`,
    "UsePAM no",
    "PasswordAuthentication no",
    "KbdInteractiveAuthentication no",
    "PermitRootLogin prohibit-password",
    "AllowTcpForwarding yes",
    "LogLevel VERBOSE",
  ];
  const path = join(dir, "sshd_config");
  writeFileSync(path, `${lines.join("\n")}\n`);
  return path;
}

describe.skipIf(!isRoot)(
  "jump host: a separate bastion sshd, and a target only the bastion can reach",
  () => {
    const testUser = userInfo().username;
    let ns: Started;
    let netns: string;
    let target: Started;
    let exporter: Started;
    let bastion: Server;
    let bastionPort: number;
    let bastionLog = "";
    const sessions = new Set<ChildProcess>();
    let clientKey: string;
    let knownHosts: string;
    let swappedKnownHosts: string;
    const log = memoryLogger("info");

    beforeAll(async () => {
      // The namespace: lo up, then hold it open. Everything below enters it by this process's ns file.
      ns = start("unshare", [
        "--net",
        "--fork",
        "sh",
        "-c",
        "ip link set lo up && echo up && exec sleep 3600",
      ]);
      await waitFor(`network namespace\n${ns.output()}`, () => {
        if (ns.child.exitCode !== null) throw new Error(ns.output());
        return ns.output().includes("up");
      });
      netns = `--net=/proc/${ns.child.pid}/ns/net`;

      const keys = sshdDir();
      clientKey = join(keys.dir, "client_key");
      const clientPub = keygen(clientKey);

      const t = sshdDir();
      const targetHostKey = keygen(join(t.dir, "host_key"));
      writeFileSync(
        join(t.dir, "authorized_keys"),
        `${authorizedKeyLine(clientPub, [{ host: "127.0.0.1", port: EXPORTER_PORT }])}\n`,
        { mode: 0o644 },
      );
      const targetConfig = sshdConfig(t.dir, testUser, `${TARGET}:22`);
      target = start("nsenter", [netns, "/usr/sbin/sshd", "-D", "-e", "-f", targetConfig]);
      await waitFor(`target sshd\n${target.output()}`, () =>
        target.output().includes(`Server listening on ${TARGET} port 22.`),
      );

      // The exporter, on the namespace's loopback only (where the target's permitopen points).
      exporter = start("nsenter", [
        netns,
        process.execPath,
        "-e",
        `require("node:http").createServer((q, r) => r.end("up 1\\n")).listen(${EXPORTER_PORT}, "127.0.0.1", () => console.log("ready"))`,
      ]);
      await waitFor(`exporter in the namespace\n${exporter.output()}`, () =>
        exporter.output().includes("ready"),
      );

      const b = sshdDir();
      const bastionHostKey = keygen(join(b.dir, "host_key"));
      writeFileSync(
        join(b.dir, "authorized_keys"),
        `${authorizedKeyLine(clientPub, [{ host: TARGET, port: 22 }])}\n`,
        { mode: 0o644 },
      );
      const bastionConfig = sshdConfig(b.dir, BASTION_USER);
      // Accepted on the host's loopback (port 0: no race), served by `sshd -i` inside the namespace.
      bastion = createServer({ pauseOnConnect: true }, (sock: Socket) => {
        const child = spawn("nsenter", [netns, "/usr/sbin/sshd", "-i", "-e", "-f", bastionConfig], {
          stdio: [sock, sock, "pipe"],
        });
        sessions.add(child);
        child.stderr?.on("data", (d) => {
          bastionLog += d;
        });
        child.once("exit", () => sessions.delete(child));
        sock.destroy(); // the child has its own copy of the descriptor
      });
      await new Promise<void>((r) => bastion.listen(0, BASTION, r));
      bastionPort = (bastion.address() as AddressInfo).port;

      knownHosts = `${TARGET} ${targetHostKey}\n[${BASTION}]:${bastionPort} ${bastionHostKey}\n`;
      swappedKnownHosts = `${TARGET} ${bastionHostKey}\n[${BASTION}]:${bastionPort} ${targetHostKey}\n`;
    });

    afterAll(async () => {
      bastion?.close();
      for (const s of sessions) s.kill("SIGKILL");
      await exporter?.stop();
      await target?.stop();
      await ns?.stop();
    });

    function runtime(o: { jumpUser?: string; knownHosts?: string; noJump?: boolean } = {}): ProxyRuntime {
      const rt = runtimeFor(
        {
          dir: sshdDir().dir,
          user: testUser,
          port: 22,
          clientKeyPath: clientKey,
          knownHostsLine: () => "",
        },
        {
          exact: [{ host: TARGET, port: EXPORTER_PORT }],
          knownHosts: o.knownHosts ?? knownHosts,
          timeouts: { backoff: 100 },
        },
      );
      if (!o.noJump)
        rt.hosts.set(TARGET, {
          jump: {
            host: BASTION,
            port: bastionPort,
            ...(o.jumpUser === undefined ? {} : { user: o.jumpUser }),
          },
        });
      return rt;
    }
    const url = `http://${TARGET}:${EXPORTER_PORT}/metrics`;

    it("the target cannot be reached from the host's loopback, only through the bastion", async () => {
      expect(await probe(TARGET, EXPORTER_PORT)).not.toBe("open");
      expect(target.output()).not.toContain("Connection from");
    });

    it("reaches the target through the bastion: each sshd sees its own user, one login each for many scrapes", async () => {
      const p = await startProxy(runtime({ jumpUser: BASTION_USER }), { logger: log.logger });
      try {
        for (let i = 0; i < 3; i++) {
          const res = await viaProxy(p.url, url);
          expect(res.status, res.body.toString()).toBe(200);
          expect(res.body.toString()).toBe("up 1\n");
        }
        const text = await fetch(`${p.url}/metrics`).then((r) => r.text());
        const via = `${BASTION_USER}@${BASTION}:${bastionPort}`;
        expect(
          metricValue(text, "sshscrape_ssh_handshakes_total", {
            host: `${testUser}@${TARGET}:22 via ${via}`,
            result: "success",
          }),
        ).toBe(1);
        expect(metricValue(text, "sshscrape_ssh_handshakes_total", { host: via, result: "success" })).toBe(1);
        expect(bastionLog.match(/Accepted publickey for (\S+)/g)).toEqual([
          `Accepted publickey for ${BASTION_USER}`,
        ]);
        expect(target.output().match(/Accepted publickey for (\S+)/g)).toEqual([
          `Accepted publickey for ${testUser}`,
        ]);
      } finally {
        await p.close(100);
      }
    });

    it("fails when the bastion is asked for the target's user", async () => {
      const p = await startProxy(runtime(), { logger: log.logger }); // jump.user defaults to the target's
      try {
        const res = await viaProxy(p.url, url);
        expect(res.status).toBe(502);
        expect(res.body.toString()).toContain(`${testUser}@${BASTION}:${bastionPort}`);
        expect(res.body.toString()).toMatch(/auth/i);
        expect(bastionLog).toMatch(
          new RegExp(`User ${testUser} from \\S+ not allowed because not listed in AllowUsers`),
        );
      } finally {
        await p.close(100);
      }
    });

    it("fails when the host keys of bastion and target are swapped in known_hosts", async () => {
      const p = await startProxy(runtime({ jumpUser: BASTION_USER, knownHosts: swappedKnownHosts }), {
        logger: log.logger,
      });
      try {
        const res = await viaProxy(p.url, url);
        expect(res.status).toBe(502);
        expect(res.body.toString()).toMatch(/host key/i);
        expect(res.body.toString()).toContain(`${BASTION}:${bastionPort}`);
      } finally {
        await p.close(100);
      }
    });

    it("fails without the jump: the proxy alone cannot reach the target", async () => {
      const p = await startProxy(runtime({ noJump: true }), { logger: log.logger });
      try {
        const res = await viaProxy(p.url, url, { timeoutMs: 15_000 });
        expect(res.status).toBeGreaterThanOrEqual(502);
        expect(res.body.toString()).toContain(`${testUser}@${TARGET}:22`);
      } finally {
        await p.close(100);
      }
    });
  },
);
