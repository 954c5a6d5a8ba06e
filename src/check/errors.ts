import { SshscrapeError } from "../errors.js";

/** `--proxy` is not an http:// URL of a proxy. */
export class ProxyUrlError extends SshscrapeError {
  readonly code = "CHECK_PROXY_URL";
  override readonly exitCode = 2;
}

/** The proxy's password file (proxy.auth.passwordFile) cannot be read. */
export class ProxyPasswordError extends SshscrapeError {
  readonly code = "CHECK_PROXY_PASSWORD";
}

/** At least one exporter could not be scraped; the message lists each with its cause. */
export class CheckFailedError extends SshscrapeError {
  readonly code = "CHECK_FAILED";
}

/** Nothing accepts connections at the proxy address, so no exporter can be checked through it. */
export class ProxyUnreachableError extends SshscrapeError {
  readonly code = "CHECK_PROXY_UNREACHABLE";
}
