import { joinHostPort } from "../config/index.js";
import { SshscrapeError } from "../errors.js";

/** The sshd could not be reached or hung up before it showed a host key. */
export class ScanConnectError extends SshscrapeError {
  readonly code = "KEYSCAN_CONNECT";
  constructor(
    host: string,
    port: number,
    detail: string,
    options?: { cause?: unknown },
    /** The server hung up before the key exchange (how sshd sheds load); worth one retry. */
    readonly dropped = false,
  ) {
    super(`${joinHostPort(host, port)}: cannot scan host keys: ${detail}`, options);
  }
}

/** The sshd did not complete a key exchange within the per-host timeout. */
export class ScanTimeoutError extends SshscrapeError {
  readonly code = "KEYSCAN_TIMEOUT";
  constructor(host: string, port: number, timeoutMs: number) {
    super(
      `${joinHostPort(host, port)}: no SSH key exchange within ${timeoutMs} ms (is sshd listening there? raise --timeout for slow links)`,
    );
  }
}

/** The sshd answered but offered none of the host key algorithms sshscrape can verify. */
export class NoHostKeysError extends SshscrapeError {
  readonly code = "KEYSCAN_NO_KEYS";
  constructor(host: string, port: number) {
    super(
      `${joinHostPort(host, port)}: the server offered no ed25519, ECDSA or RSA host key sshscrape can verify`,
    );
  }
}

/** `--via-ssh-keyscan` was asked for but OpenSSH's ssh-keyscan is not installed. */
export class SshKeyscanMissingError extends SshscrapeError {
  readonly code = "SSH_KEYSCAN_MISSING";
  constructor() {
    super(
      "ssh-keyscan is not on PATH: install OpenSSH's client tools (Debian: openssh-client, NixOS: pkgs.openssh) or drop --via-ssh-keyscan to use the built-in scanner",
    );
  }
}

/** ssh-keyscan ran but failed in a way that is not "host unreachable". */
export class SshKeyscanFailedError extends SshscrapeError {
  readonly code = "SSH_KEYSCAN_FAILED";
}

export interface KeyChange {
  /** Where in the target list: `targets[0].hostKeys` or `targets[0].ssh.jump.hostKeys`. */
  path: string;
  host: string;
  port: number;
  type: string;
  recorded: string;
  recordedFingerprint: string;
  offered: string;
  offeredFingerprint: string;
}

/**
 * A host offered a key that differs from the one recorded for its type: a reinstalled host or a
 * man-in-the-middle. Nothing is written; `--update` accepts the new key.
 */
export class HostKeyChangedError extends SshscrapeError {
  readonly code = "HOST_KEY_CHANGED";
  constructor(
    readonly file: string,
    readonly changes: KeyChange[],
    /** Hosts that could not be scanned in the same run: reported too, never dropped for the bigger news. */
    readonly unreachable: string[] = [],
  ) {
    super(
      [
        ...changes.map(
          (c) =>
            `${file}: ${c.path}: host key for ${joinHostPort(c.host, c.port)} changed: recorded ${c.type} ${c.recordedFingerprint}, offered ${c.offeredFingerprint}`,
        ),
        ...unreachable,
        `${file}: nothing written. If the host was reinstalled, check the new fingerprint out of band and rerun with --update.`,
      ].join("\n"),
    );
  }
}

/** Some hosts could not be scanned (the keys of the others were recorded). */
export class ScanFailedError extends SshscrapeError {
  readonly code = "KEYSCAN_FAILED";
  constructor(readonly failures: Array<{ host: string; port: number; message: string }>) {
    super(failures.map((f) => f.message).join("\n"));
  }
}
