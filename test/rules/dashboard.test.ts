/**
 * dashboards/sshscrape.json imports into any Grafana: the data source is a variable, nothing refers to a
 * data source or dashboard by UID, and every query panel uses the variable. (Whether its queries return data
 * from a real proxy is live.test.ts' job.)
 */
import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { DASHBOARD_FILE } from "./rules-file.js";

const text = readFileSync(DASHBOARD_FILE, "utf8");
const dashboard = JSON.parse(text) as {
  uid?: unknown;
  templating: { list: Array<{ name: string; type: string; query: unknown; datasource?: unknown }> };
  panels: Array<{
    type: string;
    title: string;
    datasource?: unknown;
    targets?: Array<{ datasource?: unknown }>;
  }>;
};
/** Grafana's variable syntax, not a JS template. */
const DATASOURCE_VARIABLE = ["$", "{datasource}"].join("");
const VIA_VARIABLE = { type: "prometheus", uid: DATASOURCE_VARIABLE };

describe("dashboards/sshscrape.json", () => {
  it("takes its Prometheus data source from a variable", () => {
    expect(dashboard.templating.list[0]).toMatchObject({
      name: "datasource",
      type: "datasource",
      query: "prometheus",
    });
    for (const v of dashboard.templating.list.filter((x) => x.type === "query"))
      expect(v.datasource, v.name).toEqual(VIA_VARIABLE);
  });

  it("refers to no UID but the variable", () => {
    expect(dashboard.uid).toBeUndefined();
    const uids = [...text.matchAll(/"uid":\s*("[^"]*"|null)/g)].map((m) => m[1]);
    expect(new Set(uids)).toEqual(new Set([`"${DATASOURCE_VARIABLE}"`]));
  });

  it("queries through the variable in every panel and target", () => {
    const panels = dashboard.panels.filter((p) => p.type !== "row");
    expect(panels.length).toBeGreaterThan(10);
    for (const p of panels) {
      expect(p.datasource, p.title).toEqual(VIA_VARIABLE);
      expect(p.targets?.length, p.title).toBeGreaterThan(0);
      for (const t of p.targets ?? []) expect(t.datasource, p.title).toEqual(VIA_VARIABLE);
    }
  });

  it("has the sections users look for", () => {
    const titles = dashboard.panels.filter((p) => p.type === "row").map((p) => p.title);
    expect(titles).toEqual([
      "Fleet overview",
      "SSH per host",
      "Scrape latency: through the proxy vs the exporter's own",
      "Proxy process",
    ]);
  });
});
