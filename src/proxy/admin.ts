/**
 * The proxy's own endpoints, in origin form on the proxy port: /healthz and /readyz for the service manager
 * (open: they say only "ok" or counts, and the unit's ExecStartPost polls /readyz with a plain curl), and
 * /metrics and /targets for operators (behind proxy.auth when it is set: they name every host and target).
 */
import type { IncomingMessage, ServerResponse } from "node:http";
import { type Credentials, checkAdminAuth } from "./auth.js";
import { sendError, sendText } from "./error-writers.js";
import { asProxyError, MethodNotAllowedError, NotAProxyRequestError } from "./errors.js";
import { type ProxyMetrics, serveMetrics } from "./metrics.js";
import type { HostState } from "./pool.js";
import type { Readiness } from "./readiness.js";

export interface AdminDeps {
  mode: () => string;
  credentials: () => Credentials | undefined;
  readiness?: Readiness | undefined;
  hosts: () => HostState[];
  metrics: ProxyMetrics;
}

const TEXT = "text/plain; charset=utf-8";

/** Answers one origin-form request (also /metrics on the separate proxy.metricsListen, with the same auth). */
export function serveAdmin(deps: AdminDeps, req: IncomingMessage, res: ServerResponse): void {
  const path = (req.url ?? "/").split("?")[0] ?? "/";
  try {
    if (req.method !== "GET" && req.method !== "HEAD") throw new MethodNotAllowedError(req.method ?? "?");
    if (path === "/healthz") sendText(req, res, 200, TEXT, "ok\n");
    else if (path === "/readyz") {
      const r = deps.readiness;
      sendText(req, res, r && !r.ready ? 503 : 200, TEXT, `${r?.describe() ?? "ready"}\n`);
    } else if (path === "/targets") {
      checkAdminAuth(req, deps.credentials());
      const body = { mode: deps.mode(), hosts: deps.hosts().map(publicState) };
      sendText(req, res, 200, "application/json", `${JSON.stringify(body, null, 2)}\n`);
    } else if (path === "/metrics") {
      checkAdminAuth(req, deps.credentials());
      serveMetrics(deps.metrics, res, req.method === "HEAD");
    } else throw new NotAProxyRequestError(path);
  } catch (e) {
    sendError(res, asProxyError(e), req);
  }
}

/**
 * A host's state without anything that names a file: key paths (SSH login failures name the key file) and
 * raw causes, which can quote paths, are the log's business, not an HTTP endpoint's.
 */
export function publicState(h: HostState): HostState {
  return h.lastError
    ? { ...h, lastError: { ...h.lastError, message: withoutPaths(h.lastError.message) } }
    : h;
}

/** Replaces absolute file paths (`/etc/…`, `/run/credentials/…/ssh-key`) with `<file>`. */
export function withoutPaths(text: string): string {
  return text.replace(/(^|[\s"'(=])\/[^\s"'(),;]*/g, "$1<file>");
}
