import { describe, expect, it } from "vitest";
import { metricNames, variableMetricNames } from "./promql-names.js";

describe("metricNames", () => {
  it("finds metric and recording-rule names, not functions, keywords, labels or strings", () => {
    expect(
      metricNames(
        'sum by (instance, target) (rate(sshscrape_requests_total{target=~".+:[0-9]+"}[5m])) / ignoring (type) group_left sshscrape:target_requests:rate5m',
      ).sort(),
    ).toEqual(["sshscrape:target_requests:rate5m", "sshscrape_requests_total"]);
    expect(
      metricNames(
        'label_replace(sshscrape_ssh_failing, "hostname", "$1", "host", `[^@]*@(.+?):[0-9]+ via x`) unless on (instance) up == 0 or vector(0)',
      ).sort(),
    ).toEqual(["sshscrape_ssh_failing", "up"]);
    expect(
      metricNames('rate(process_cpu_seconds_total{job="sshscrape"}[$__rate_interval]) > bool 0.5'),
    ).toEqual(["process_cpu_seconds_total"]);
    expect(metricNames("histogram_quantile(0.99, sum by (le) (rate(x_bucket[5m]))) offset 1h")).toEqual([
      "x_bucket",
    ]);
  });

  it("reads the metric of a Grafana label_values() variable", () => {
    expect(variableMetricNames('label_values(up{job="sshscrape"}, instance)')).toEqual(["up"]);
  });
});
