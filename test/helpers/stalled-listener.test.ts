import { connect } from "node:net";
import { expect, it } from "vitest";
import { startStalledListener } from "./stalled-listener.js";

it("a stalled listener leaves a connect pending (no connect, no error) for seconds", async () => {
  const l = await startStalledListener();
  try {
    const outcome = await new Promise<string>((resolve) => {
      const s = connect(l.port, l.host);
      const t = setTimeout(() => {
        s.destroy();
        resolve("pending");
      }, 2500);
      s.once("connect", () => {
        clearTimeout(t);
        s.destroy();
        resolve("connected");
      });
      s.once("error", (e) => {
        clearTimeout(t);
        resolve(`error ${e.message}`);
      });
    });
    expect(outcome).toBe("pending");
  } finally {
    await l.close();
  }
});
