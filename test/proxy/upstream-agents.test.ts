/** The per-exporter agents must not pile up when clients name ever new targets (sshified mode). */
import { describe, expect, it } from "vitest";
import { UpstreamAgents } from "../../src/proxy/upstream.js";

describe("UpstreamAgents", () => {
  it("drops agents that hold no channel once there are many, and keeps the one in use", () => {
    const agents = new UpstreamAgents(60_000);
    const busy = agents.get("busy");
    // An exchange opening a channel counts before the channel exists.
    busy.inFlight = 1;
    for (let i = 0; i < 2000; i++) agents.get(`target ${i}`);
    expect(agents.size).toBeLessThanOrEqual(257);
    expect(agents.get("busy")).toBe(busy);
    agents.destroy();
  });
});
