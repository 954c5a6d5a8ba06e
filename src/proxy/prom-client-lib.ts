/**
 * The four prom-client classes and the default metrics the proxy uses, required from their own files instead of
 * the package's index. The index also loads prom-client's Pushgateway (node:https, node:tls, node:zlib), its
 * cluster aggregator (node:cluster, which brings child_process, dgram and the cluster internals) and Summary
 * (with its t-digest): none of them is used by the proxy, yet they stayed compiled and resident for its whole
 * life (−2 MB RSS, docs/benchmarks.md "Memory (issue 14, round 5)"). The classes are the very ones the index
 * exports (the same files, one module cache), so `instanceof` against `import("prom-client")` holds in tests.
 */
import { createRequire } from "node:module";
import type * as Prom from "prom-client";

const require = createRequire(import.meta.url);

export const Registry: typeof Prom.Registry = require("prom-client/lib/registry");
export const Counter: typeof Prom.Counter = require("prom-client/lib/counter");
export const Gauge: typeof Prom.Gauge = require("prom-client/lib/gauge");
export const Histogram: typeof Prom.Histogram = require("prom-client/lib/histogram");
export const collectDefaultMetrics: typeof Prom.collectDefaultMetrics = require("prom-client/lib/defaultMetrics");

export type Registry<T extends Prom.RegistryContentType = Prom.PrometheusContentType> = Prom.Registry<T>;
export type Counter<T extends string = string> = Prom.Counter<T>;
export type Gauge<T extends string = string> = Prom.Gauge<T>;
export type Histogram<T extends string = string> = Prom.Histogram<T>;
export type { RegistryContentType } from "prom-client";
