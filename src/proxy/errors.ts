/**
 * Every way a proxied request can fail, one class each. `code` is stable (the `type` label of
 * `sshscrape_errors_total`, and what tests match on), `status` the HTTP status the client sees, `phase`
 * where the request was when it failed, and `message` the plain-text body: it names the host, the port and
 * the cause, because sshified's empty 502 bodies are what users of it complain about.
 */
import { SshscrapeError } from "../errors.js";
import { type Phase, ProxyError } from "./proxy-error.js";

export { type Phase, ProxyError } from "./proxy-error.js";

/** One line describing an underlying error: its code (ECONNREFUSED, …) and message. */
export function describeCause(cause: unknown): string {
  if (cause instanceof Error) {
    const code = (cause as NodeJS.ErrnoException).code;
    return typeof code === "string" && !cause.message.includes(code)
      ? `${code}: ${cause.message}`
      : cause.message;
  }
  return String(cause);
}

/** The request target is not on the allowlist (default deny). */
export class NotAllowedError extends ProxyError {
  readonly code = "NOT_ALLOWED";
  readonly status = 403;
  override readonly phase: Phase = "allowlist";
  constructor(target: string, howToAllow = "add it to the target list or to proxy.allow") {
    super(`${target} is not an allowed target (${howToAllow})`);
  }
}

/**
 * A GET/HEAD to a configured exporter for another path than its `metricsPath` (any query is fine: params).
 * Without this check, a host:port on the list would expose everything its HTTP server serves.
 */
export class PathNotAllowedError extends ProxyError {
  readonly code = "PATH_NOT_ALLOWED";
  readonly status = 403;
  override readonly phase: Phase = "allowlist";
  constructor(target: string, path: string, allowed: string) {
    super(
      `${target}: path ${JSON.stringify(path)} is not this exporter's metricsPath ${JSON.stringify(allowed)} (the proxy forwards only that path, with any query; set metricsPath, or extraMethods for an exporter with an API)`,
    );
  }
}

export class ProxyAuthRequiredError extends ProxyError {
  readonly code = "PROXY_AUTH_REQUIRED";
  readonly status = 407;
  override readonly phase: Phase = "auth";
  constructor(wrong: boolean) {
    super(
      wrong
        ? "proxy authentication failed: wrong user name or password in Proxy-Authorization"
        : "proxy authentication required: put user:password in proxy_url (Proxy-Authorization: Basic)",
    );
  }
}

/** A method Prometheus never sends, to an exporter that did not opt in to it (`extraMethods`). */
export class MethodNotAllowedError extends ProxyError {
  readonly code = "METHOD_NOT_ALLOWED";
  readonly status = 405;
  override readonly closeConnection = true;
  constructor(
    method: string,
    readonly allowed: string[] = ["GET", "HEAD"],
  ) {
    super(
      `method ${method} is not proxied to this target (allowed: ${allowed.join(", ")}; an exporter opts in to ` +
        "more with extraMethods; https targets use CONNECT)",
    );
  }
}

/**
 * The request's framing is ambiguous or cannot be forwarded for sure (duplicate or conflicting
 * Content-Length / Transfer-Encoding, Connection naming a framing header, …): see framing.ts.
 */
export class FramingError extends ProxyError {
  readonly code = "BAD_FRAMING";
  readonly status = 400;
  override readonly closeConnection = true;
  constructor(detail: string) {
    super(`request refused: ${detail}`);
  }
}

/** CONNECT to an exporter configured as `scheme: http`: a raw tunnel would bypass the framing rules. */
export class ConnectToPlainHttpError extends ProxyError {
  readonly code = "METHOD_NOT_ALLOWED";
  readonly status = 405;
  override readonly closeConnection = true;
  constructor(target: string) {
    super(
      `CONNECT to ${target} refused: it is configured as scheme: http, so Prometheus sends GET http://${target}/…; ` +
        "CONNECT is for scheme: https exporters",
    );
  }
}

/** GET or HEAD with a body, which an exporter could read as a second request. */
export class BodyNotAllowedError extends ProxyError {
  readonly code = "BODY_NOT_ALLOWED";
  readonly status = 400;
  override readonly closeConnection = true;
  constructor(method: string) {
    super(`request refused: a ${method} request carries no body (RFC 9110 §9.3), and this one has one`);
  }
}

/** An admin endpoint (/metrics, /targets) without the proxy's credentials while proxy.auth is set. */
export class AdminAuthRequiredError extends ProxyError {
  readonly code = "AUTH_REQUIRED";
  readonly status = 401;
  override readonly phase: Phase = "auth";
  constructor(wrong: boolean) {
    super(
      wrong
        ? "authentication failed: wrong user name or password"
        : "authentication required: send proxy.auth's user and password (Authorization or Proxy-Authorization: Basic)",
    );
  }
}

/** An origin-form request for something other than /metrics, /healthz, /readyz or /targets. */
export class NotAProxyRequestError extends ProxyError {
  readonly code = "NOT_A_PROXY_REQUEST";
  readonly status = 400;
  constructor(path: string) {
    super(
      `${path} is not served here: sshscrape is an HTTP proxy; set proxy_url to this address in the ` +
        "Prometheus scrape config, or GET /metrics, /healthz, /readyz or /targets",
    );
  }
}

/** The HTTP parser rejected the request before it reached a handler. */
export class MalformedRequestError extends ProxyError {
  readonly code = "MALFORMED_REQUEST";
  readonly status = 400;
  constructor(detail: string) {
    super(`malformed HTTP request: ${detail}`);
  }
}

/** The client did not finish its request headers in time (slowloris); node:http's headersTimeout fired. */
export class RequestHeadersTimeoutError extends ProxyError {
  readonly code = "REQUEST_HEADERS_TIMEOUT";
  readonly status = 408;
  constructor(limitMs: number) {
    super(`request headers not complete within ${limitMs} ms`);
  }
}

export class HeadersTooLargeError extends ProxyError {
  readonly code = "HEADERS_TOO_LARGE";
  readonly status = 431;
  constructor(limit: number) {
    super(`request headers exceed ${limit} bytes`);
  }
}

/** `user@host:port` (and the jump host) as error messages name an SSH connection. */
export type SshName = string;

export class SshConnectError extends ProxyError {
  readonly code = "SSH_CONNECT_FAILED";
  readonly status = 502;
  override readonly phase: Phase = "ssh-connect";
  constructor(name: SshName, cause: unknown) {
    super(`cannot connect to SSH server ${name}: ${describeCause(cause)}`, { cause });
  }
}

export class SshHandshakeError extends ProxyError {
  readonly code = "SSH_HANDSHAKE_FAILED";
  readonly status = 502;
  override readonly phase: Phase = "ssh-handshake";
  constructor(name: SshName, cause: unknown) {
    super(`SSH handshake with ${name} failed: ${describeCause(cause)}`, { cause });
  }
}

export class SshAuthError extends ProxyError {
  readonly code = "SSH_AUTH_FAILED";
  readonly status = 502;
  override readonly phase: Phase = "ssh-auth";
  constructor(name: SshName, keyFile: string, cause: unknown) {
    super(
      `SSH login to ${name} with key ${keyFile} was refused: ${describeCause(cause)} ` +
        "(is the public key in the user's authorized_keys?)",
      { cause },
    );
  }
}

export type HostKeyProblem = "unknown" | "mismatch" | "revoked";

/** The host key check failed; `message` is the known_hosts verdict (names host, key type, fingerprint). */
export class HostKeyError extends ProxyError {
  readonly code: string;
  readonly status = 502;
  override readonly phase: Phase = "host-key";
  constructor(
    readonly reason: HostKeyProblem,
    verdict: string,
  ) {
    super(verdict);
    this.code = `HOST_KEY_${reason.toUpperCase()}`;
  }
}

/** sshd refused the direct-tcpip channel, or nothing listens at the remote address. */
export class ChannelOpenError extends ProxyError {
  readonly code = "CHANNEL_OPEN_FAILED";
  readonly status = 502;
  override readonly phase: Phase = "channel-open";
  constructor(name: SshName, remote: string, cause: unknown) {
    super(
      `${name} could not open a channel to ${remote}: ${describeCause(cause)} ` +
        "(is the exporter running there, and does authorized_keys permitopen it?)",
      { cause },
    );
  }
}

export class UpstreamError extends ProxyError {
  readonly code = "UPSTREAM_FAILED";
  readonly status = 502;
  override readonly phase: Phase = "upstream-response";
  constructor(target: string, cause: unknown) {
    super(`exporter ${target} failed: ${describeCause(cause)}`, { cause });
  }
}

/** The SSH connection carrying the exchange closed under it: the exporter is not to blame. */
export class SshConnectionLostError extends ProxyError {
  readonly code = "SSH_CONNECTION_LOST";
  readonly status = 502;
  override readonly phase: Phase = "upstream-response";
  constructor(host: string, target: string, cause: unknown) {
    super(
      `SSH connection to ${host} was lost while talking to exporter ${target}; the next request reconnects`,
      { cause },
    );
  }
}

export class ResponseTooLargeError extends ProxyError {
  readonly code = "RESPONSE_TOO_LARGE";
  readonly status = 502;
  override readonly phase: Phase = "upstream-response";
  constructor(target: string, limit: number) {
    super(`response from ${target} exceeds proxy.maxResponseBytes (${limit} bytes)`);
  }
}

export class TimeoutError extends ProxyError {
  readonly code = "TIMEOUT";
  readonly status = 504;
  override readonly phase: Phase;
  constructor(
    phase: Phase,
    what: string,
    readonly budget: number,
  ) {
    super(`timed out in phase ${phase} after ${budget} ms: ${what}`);
    this.phase = phase;
  }
}

/** The host failed recently; answered without a new connect attempt so a dead host cannot cause a storm. */
export class BackoffError extends ProxyError {
  readonly code = "SSH_BACKOFF";
  readonly status = 502;
  override readonly phase: Phase;
  constructor(
    name: SshName,
    readonly last: ProxyError,
    retryInMs: number,
  ) {
    super(
      `${name} failed recently, next attempt in ${Math.ceil(retryInMs / 1000)} s; last error: ${last.message}`,
      {
        cause: last,
      },
    );
    this.phase = last.phase;
  }
}

/** The request was abandoned by the client (it disconnected); nobody reads the answer. */
export class ClientGoneError extends ProxyError {
  readonly code = "CLIENT_DISCONNECTED";
  readonly status = 499;
  constructor() {
    super("client disconnected");
  }
}

/** The proxy is shutting down. */
export class ShuttingDownError extends ProxyError {
  readonly code = "SHUTTING_DOWN";
  readonly status = 503;
  constructor() {
    super("sshscrape is shutting down");
  }
}

/** Any unexpected failure, wrapped so the request still gets a 502 with a body instead of a crash. */
export class InternalProxyError extends ProxyError {
  readonly code = "INTERNAL";
  readonly status = 502;
  constructor(cause: unknown) {
    super(`internal proxy error: ${describeCause(cause)}`, { cause });
  }
}

export function asProxyError(err: unknown): ProxyError {
  return err instanceof ProxyError ? err : new InternalProxyError(err);
}

// ---- Start-up failures (CLI exit codes, not HTTP statuses) ----

/** The proxy settings cannot work as given (exit 2). */
export class ProxySettingsError extends SshscrapeError {
  readonly code = "PROXY_SETTINGS";
  override readonly exitCode = 2;
}

/** A private key file is missing, unreadable, not a key, or encrypted without a passphrase file (exit 2). */
export class KeyFileError extends SshscrapeError {
  readonly code = "KEY_FILE";
  override readonly exitCode = 2;
  constructor(
    readonly file: string,
    detail: string,
    options?: { cause?: unknown },
  ) {
    super(`${file}: ${detail}`, options);
  }
}

/** The listen address is taken or not ours (exit 1). */
export class ListenError extends SshscrapeError {
  readonly code = "LISTEN_FAILED";
  constructor(address: string, cause: unknown) {
    super(`cannot listen on ${address}: ${describeCause(cause)}`, { cause });
  }
}
