/**
 * The exchange and the idle list share one set of listeners per channel (setChannelHandler): events must reach
 * the current user only, and switching users must not add listeners. Over a real stream (a PassThrough stands
 * in for ssh2's channel, a Duplex; test/proxy/channel-sink.test.ts covers the real channel's push).
 */
import { PassThrough } from "node:stream";
import type { ClientChannel } from "ssh2";
import { describe, expect, it } from "vitest";
import { type ChannelHandler, setChannelHandler } from "../../src/proxy/channel-sink.js";

function recorder(name: string, log: string[]): ChannelHandler {
  return {
    data: (b) => log.push(`${name} data ${b.toString()}`),
    end: () => log.push(`${name} end`),
    close: () => log.push(`${name} close`),
    error: (e) => log.push(`${name} error ${e.message}`),
  };
}

describe("setChannelHandler", () => {
  it("routes each event to the handler set at the time, and adds its listeners once", async () => {
    const stream = new PassThrough();
    const ch = stream as unknown as ClientChannel;
    const log: string[] = [];
    setChannelHandler(ch, recorder("a", log));
    stream.write("1");
    await new Promise((r) => setImmediate(r));
    setChannelHandler(ch, recorder("b", log));
    setChannelHandler(ch, undefined);
    stream.write("dropped");
    await new Promise((r) => setImmediate(r));
    setChannelHandler(ch, recorder("c", log));
    for (const event of ["data", "end", "close", "error"]) expect(stream.listenerCount(event)).toBe(1);
    stream.emit("error", new Error("boom"));
    stream.end("2");
    await new Promise((r) => stream.once("close", r));
    expect(log).toEqual(["a data 1", "c error boom", "c data 2", "c end", "c close"]);
  });
});
