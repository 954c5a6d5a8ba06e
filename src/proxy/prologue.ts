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
import { parseAbsoluteTarget, parseConnectTarget, type RequestTarget } from "./request-target.js";
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

/**
 * What was worked out from a request head the raw front keeps (front-parser.ts caches each head it served,
 * frozen: the same head, the same arrays): its parsed target and, for the route and methods it was decided
 * for, its framing plan. Prometheus sends the same head for a target on every scrape; parsing the target and
 * deciding the framing again (lower-casing, splitting and hashing each header, a Set, a fresh header list)
 * was ~2 KB of garbage per scrape (docs/benchmarks.md, "Garbage per scrape"). Both are pure functions of
 * what is compared here, and only successes are kept: a refusal is worked out, and answered, every time.
 */
interface KnownHead {
  readonly url: string;
  readonly target: RequestTarget;
  /** `host:port`: the same string every time, so maps keyed by it (metrics, routes) hash it once. */
  readonly label: string;
  framing?: {
    readonly method: string | undefined;
    readonly httpVersion: string;
    readonly authority: string;
    readonly extraMethods: ReadonlySet<string> | undefined;
    readonly plan: ForwardPlan;
  };
}
const knownHeads = new WeakMap<readonly string[], KnownHead>();

/** An absolute-form request (`GET http://host:port/path`). Throws the ProxyError to answer with. */
export function admitRequest(req: RequestHead, deps: PrologueDeps, progress: Progress): AdmittedRequest {
  checkProxyAuth(req, deps.credentials());
  const url = req.url ?? "";
  // Only the front's heads are frozen; node:http's arrays are new with every request.
  const raw = req.rawHeaders;
  let known = Object.isFrozen(raw) ? knownHeads.get(raw) : undefined;
  if (known !== undefined && known.url !== url) known = undefined;
  const target = known?.target ?? parseAbsoluteTarget(url);
  if (known === undefined && Object.isFrozen(raw)) {
    known = { url, target: Object.freeze(target), label: joinHostPort(target.host, target.port) };
    knownHeads.set(raw, known);
  }
  const admitted = admit(req, deps, target.host, target.port, progress, known?.label);
  const extraMethods = deps.runtime().extraMethods?.get(admitted.label);
  const f = known?.framing;
  let plan: ForwardPlan;
  if (
    f !== undefined &&
    f.method === req.method &&
    f.httpVersion === req.httpVersion &&
    f.authority === admitted.label &&
    f.extraMethods === extraMethods
  )
    plan = f.plan;
  else {
    const decision = decideFraming(req, { authority: admitted.label, extraMethods });
    if (!decision.ok) throw decision.error;
    plan = decision.plan;
    if (known !== undefined) {
      // Frozen: shared by every request with this head (exchange.ts keeps its request bytes by plan).
      Object.freeze(plan.headers);
      Object.freeze(plan.body);
      plan = Object.freeze(plan);
      known.framing = {
        method: req.method,
        httpVersion: req.httpVersion,
        authority: admitted.label,
        extraMethods,
        plan,
      };
    }
  }
  checkPath(admitted.label, target.path, deps.runtime().paths?.get(admitted.label));
  // Spelled out: an object spread here went through V8's slow define path on every request (~2.7 % of the
  // proxy's CPU at c=1 in a perf profile; docs/benchmarks.md, "Fixed cost per request").
  return {
    label: admitted.label,
    port: admitted.port,
    route: admitted.route,
    deadline: admitted.deadline,
    plan,
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
  knownLabel?: string,
): Admitted {
  const label = knownLabel ?? joinHostPort(host, port);
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
