import { SshscrapeError } from "../errors.js";

/** Where in a proxied request a failure happened; named in 504 bodies, logs and metrics. */
export type Phase =
  | "request"
  | "auth"
  | "allowlist"
  | "queue"
  | "ssh-connect"
  | "ssh-handshake"
  | "ssh-auth"
  | "host-key"
  | "channel-open"
  | "upstream-response";

/**
 * Base of every failure the proxy answers a request with. `status` is the HTTP status the client sees and
 * `message` the plain-text body (one line, naming what failed and where), so no handler invents its own.
 */
export abstract class ProxyError extends SshscrapeError {
  abstract readonly status: number;
  readonly phase: Phase = "request";
  /**
   * Close the client connection after answering: the request was refused for how it is framed, so the proxy
   * does not read on to find where the next one starts.
   */
  readonly closeConnection: boolean = false;
}
