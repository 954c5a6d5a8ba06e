/**
 * HTTP Basic credentials (RFC 7617) for the proxy (Proxy-Authorization, RFC 9110 §11.7.1) and for its own
 * admin endpoints. Compared in constant time, so the time to answer says nothing about how much matched.
 */
import { timingSafeEqual } from "node:crypto";
import type { IncomingHttpHeaders, IncomingMessage } from "node:http";
import { AdminAuthRequiredError, ProxyAuthRequiredError } from "./errors.js";

export interface Credentials {
  username: string;
  password: string;
}

/** Whether `header` is `Basic <base64 of user:password>` for exactly `creds`. */
function matches(header: string, creds: Credentials): boolean {
  const m = /^Basic\s+(\S+)\s*$/i.exec(header);
  const given = Buffer.from(m ? Buffer.from(m[1] as string, "base64").toString("utf8") : "");
  const expected = Buffer.from(`${creds.username}:${creds.password}`);
  return given.length === expected.length && timingSafeEqual(given, expected);
}

/** For proxied requests and CONNECT: Proxy-Authorization only (Authorization belongs to the exporter). */
export function checkProxyAuth(req: { headers: IncomingHttpHeaders }, creds: Credentials | undefined): void {
  if (!creds) return;
  const header = req.headers["proxy-authorization"];
  if (!header) throw new ProxyAuthRequiredError(false);
  if (!matches(header, creds)) throw new ProxyAuthRequiredError(true);
}

/**
 * For origin-form requests to /metrics and /targets. Prometheus scraping the proxy's own metrics sends
 * `basic_auth` as Authorization, while a client configured with the proxy URL sends Proxy-Authorization:
 * either one carrying the proxy's credentials is accepted.
 */
export function checkAdminAuth(req: IncomingMessage, creds: Credentials | undefined): void {
  if (!creds) return;
  const given = [req.headers.authorization, req.headers["proxy-authorization"]].filter(
    (h): h is string => h !== undefined,
  );
  if (given.length === 0) throw new AdminAuthRequiredError(false);
  // Evaluate both, so which header matched does not show in the timing.
  const ok = given.map((h) => matches(h, creds)).some(Boolean);
  if (!ok) throw new AdminAuthRequiredError(true);
}
