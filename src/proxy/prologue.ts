/**
 * What every proxied request passes before GET and CONNECT diverge, in this order: proxy authentication,
 * the request target (parsed strictly), the allowlist, for plain HTTP the framing decision (framing.ts), and
 * the deadline. Nothing reaches an SSH connection before all of it has passed.
 */
import type { IncomingHttpHeaders } from "node:http";
import { joinHostPort } from "../config/host.js";
import type { Allowlist } from "./allowlist.js";
import { type Credentials, checkProxyAuth } from "./auth.js";
import { Deadline, SCRAPE_TIMEOUT_HEADER } from "./deadline.js";
import { ConnectToPlainHttpError, NotAllowedError, PathNotAllowedError } from "./errors.js";
import { decideFraming, type ForwardPlan, type IncomingHead } from "./framing.js";
import { parseAbsoluteTarget, parseConnectTarget } from "./request-target.js";
import { type ProxyRuntime, type Route, routeFor } from "./settings.js";

export interface PrologueDeps {
  runtime: () => ProxyRuntime;
  allowlist: () => Allowlist;
  credentials: () => Credentials | undefined;
}

/**
 * What the prologue reads of a request: its head. node:http's IncomingMessage is one; the raw front's
 * FrontRequest (front.ts) is the other.
 */
export interface RequestHead extends IncomingHead {
  url?: string | undefined;
  /** Lower-cased names, as IncomingMessage.headers. */
  headers: IncomingHttpHeaders;
}

/** Filled in as the prologue gets on: the target label, once the target is allowed ("other" until then). */
export interface Progress {
  label: string;
}

export interface Admitted {
  /** `host:port` of the allowed target. */
  label: string;
  port: number;
  route: Route;
  deadline: Deadline;
}

export interface AdmittedRequest extends Admitted {
  /** Exactly what to send upstream: method, header fields, body framing. */
  plan: ForwardPlan;
  /** origin-form path + query. */
  path: string;
}

/** An absolute-form request (`GET http://host:port/path`). Throws the ProxyError to answer with. */
export function admitRequest(req: RequestHead, deps: PrologueDeps, progress: Progress): AdmittedRequest {
  checkProxyAuth(req, deps.credentials());
  const target = parseAbsoluteTarget(req.url ?? "");
  const admitted = admit(req, deps, target.host, target.port, progress);
  const decision = decideFraming(req, {
    authority: admitted.label,
    extraMethods: deps.runtime().extraMethods?.get(admitted.label),
  });
  if (!decision.ok) throw decision.error;
  checkPath(admitted.label, target.path, deps.runtime().paths?.get(admitted.label));
  // Spelled out: an object spread here went through V8's slow define path on every request (~2.7 % of the
  // proxy's CPU at c=1 in a perf profile; docs/benchmarks.md, "Fixed cost per request").
  return {
    label: admitted.label,
    port: admitted.port,
    route: admitted.route,
    deadline: admitted.deadline,
    plan: decision.plan,
    path: target.path,
  };
}

/**
 * A configured exporter answers its metricsPath only, with any query (its params). The path is compared as
 * sent and percent-decoded, so `/%6Detrics` is `/metrics` as the exporter's router would see it.
 */
function checkPath(label: string, originForm: string, allowed: string | undefined): void {
  if (allowed === undefined) return;
  const q = originForm.indexOf("?");
  const path = q === -1 ? originForm : originForm.slice(0, q);
  if (path === allowed) return;
  let decoded: string | undefined;
  try {
    decoded = decodeURIComponent(path);
  } catch {
    decoded = undefined;
  }
  if (decoded === allowed) return;
  throw new PathNotAllowedError(label, path, allowed);
}

/** A CONNECT request (`CONNECT host:port`): the tunnel carries TLS end to end, so there is nothing to frame. */
export function admitConnect(req: RequestHead, deps: PrologueDeps, progress: Progress): Admitted {
  checkProxyAuth(req, deps.credentials());
  const { host, port } = parseConnectTarget(req.url ?? "");
  const admitted = admit(req, deps, host, port, progress);
  // A tunnel carries whatever the client sends; to a plain-HTTP exporter it would bypass the framing and
  // method rules above. Prometheus only tunnels `scheme: https` targets.
  if (deps.runtime().schemes?.get(admitted.label) === "http")
    throw new ConnectToPlainHttpError(admitted.label);
  return admitted;
}

function admit(
  req: RequestHead,
  deps: PrologueDeps,
  host: string,
  port: number,
  progress: Progress,
): Admitted {
  const label = joinHostPort(host, port);
  const allowlist = deps.allowlist();
  if (!allowlist.allows(host, port)) throw new NotAllowedError(label, allowlist.howToAllow);
  progress.label = label;
  const rt = deps.runtime();
  const deadline = Deadline.forRequest(
    req.headers[SCRAPE_TIMEOUT_HEADER],
    rt.timeouts.margin,
    rt.timeouts.request,
  );
  return { label, port, route: cachedRoute(rt, host), deadline };
}

/** Routes already worked out, per runtime (a reload makes a new one) and host. */
const routes = new WeakMap<ProxyRuntime, Map<string, Route>>();
/** Hosts are bounded by the allowlist, but a glob can allow many names: the cache is dropped past this. */
const MAX_CACHED_ROUTES = 4096;

/** routeFor() once per host and runtime, not per request: it builds several objects each time. */
function cachedRoute(rt: ProxyRuntime, host: string): Route {
  let m = routes.get(rt);
  if (!m) {
    m = new Map();
    routes.set(rt, m);
  }
  let route = m.get(host);
  if (!route) {
    if (m.size >= MAX_CACHED_ROUTES) m.clear();
    route = routeFor(rt, host);
    m.set(host, route);
  }
  return route;
}
