/**
 * The exchanges' response deadlines and each idle list's timeouts share one Timeout (docs/benchmarks.md,
 * "Fixed cost per request"): every entry must still expire at its own time, and only then. Fake timers: the
 * times are Node's timer clock, not the machine's speed.
 */
import { EventEmitter } from "node:events";
import type { ClientChannel } from "ssh2";
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { DeadlineTimers } from "../../src/proxy/deadline.js";
import { IdleChannels } from "../../src/proxy/upstream.js";

beforeEach(() => {
  vi.useFakeTimers({ now: 1_000_000 });
});
afterEach(() => {
  vi.useRealTimers();
});

describe("DeadlineTimers", () => {
  it("fires each deadline at its own time, earliest first, and never one that was removed", () => {
    const timers = new DeadlineTimers();
    const fired: string[] = [];
    const at = (ms: number, name: string) => ({ at: Date.now() + ms, onExpire: () => fired.push(name) });
    const late = at(300, "late");
    const removed = at(200, "removed");
    timers.add(late);
    timers.add(removed);
    timers.add(at(100, "early")); // earlier than the armed one: re-armed
    timers.remove(removed);
    vi.advanceTimersByTime(99);
    expect(fired).toEqual([]);
    vi.advanceTimersByTime(1);
    expect(fired).toEqual(["early"]);
    vi.advanceTimersByTime(150);
    expect(fired).toEqual(["early"]);
    vi.advanceTimersByTime(50);
    expect(fired).toEqual(["early", "late"]);
    expect(timers.size).toBe(0);
    expect(vi.getTimerCount()).toBe(0);
  });

  it("holds nothing up once every deadline is removed, and leaves no timer behind after its time", () => {
    const timers = new DeadlineTimers();
    const e = { at: Date.now() + 50, onExpire: () => expect.unreachable() };
    const timeout = vi.spyOn(globalThis, "setTimeout");
    timers.add(e);
    expect(vi.getTimerCount()).toBe(1);
    const armed = timeout.mock.results[0]?.value as NodeJS.Timeout;
    expect(armed.hasRef()).toBe(true);
    timers.remove(e);
    // Left armed for the next deadline (no Timeout per request), but it no longer keeps the process alive.
    expect(armed.hasRef()).toBe(false);
    const again = { at: Date.now() + 60, onExpire: () => expect.unreachable() };
    timers.add(again);
    expect(armed.hasRef()).toBe(true);
    expect(timeout).toHaveBeenCalledTimes(1);
    timers.remove(again);
    vi.advanceTimersByTime(100);
    expect(vi.getTimerCount()).toBe(0);
    timeout.mockRestore();
  });

  it("re-arms for a deadline that is still pending when an earlier one's timer fires", () => {
    const timers = new DeadlineTimers();
    const fired: string[] = [];
    const first = { at: Date.now() + 50, onExpire: () => fired.push("first") };
    timers.add(first);
    timers.remove(first);
    timers.add({ at: Date.now() + 80, onExpire: () => fired.push("second") });
    vi.advanceTimersByTime(79);
    expect(fired).toEqual([]);
    vi.advanceTimersByTime(1);
    expect(fired).toEqual(["second"]);
    expect(vi.getTimerCount()).toBe(0);
  });
});

/** Enough of a channel for the idle list: events and close(). */
function fakeChannel(): ClientChannel & { closed: boolean } {
  const ch = new EventEmitter() as EventEmitter & { closed: boolean; close(): void };
  ch.closed = false;
  ch.close = () => {
    ch.closed = true;
  };
  return ch as unknown as ClientChannel & { closed: boolean };
}

describe("IdleChannels timeouts", () => {
  it("closes each idle channel after its own timeout (the exporter's Keep-Alive hint or the proxy's)", () => {
    const idle = new IdleChannels(1_000);
    const a = fakeChannel();
    const b = fakeChannel();
    const c = fakeChannel();
    idle.put(a);
    vi.advanceTimersByTime(400);
    idle.put(b, 200); // shorter than a's remaining 600 ms
    idle.put(c);
    vi.advanceTimersByTime(199);
    expect([a.closed, b.closed, c.closed]).toEqual([false, false, false]);
    vi.advanceTimersByTime(1);
    expect([a.closed, b.closed, c.closed]).toEqual([false, true, false]);
    expect(idle.size).toBe(2);
    vi.advanceTimersByTime(400);
    expect([a.closed, c.closed]).toEqual([true, false]);
    vi.advanceTimersByTime(400);
    expect(c.closed).toBe(true);
    expect(idle.size).toBe(0);
    expect(vi.getTimerCount()).toBe(0);
  });

  it("does not close a channel taken for a request, and leaves no timer behind after its time", () => {
    const idle = new IdleChannels(1_000);
    const a = fakeChannel();
    idle.put(a);
    expect(idle.take()).toBe(a);
    vi.advanceTimersByTime(2_000);
    expect(a.closed).toBe(false);
    expect(vi.getTimerCount()).toBe(0);
    // Put back later: a full timeout from then.
    idle.put(a);
    vi.advanceTimersByTime(999);
    expect(a.closed).toBe(false);
    vi.advanceTimersByTime(1);
    expect(a.closed).toBe(true);
  });

  it("drops a channel that receives a byte while idle, and keeps timing the others", () => {
    const idle = new IdleChannels(1_000);
    const a = fakeChannel();
    const b = fakeChannel();
    idle.put(a);
    idle.put(b);
    a.emit("data", Buffer.from("x"));
    expect(a.closed).toBe(true);
    expect(idle.take()).toBe(b);
    expect(idle.take()).toBeUndefined();
    vi.advanceTimersByTime(1_000);
    expect(b.closed).toBe(false);
    expect(vi.getTimerCount()).toBe(0);
  });

  it("a channel put back while the emptied list's timer is still armed times out a full timeout later", () => {
    const idle = new IdleChannels(1_000);
    const a = fakeChannel();
    idle.put(a);
    vi.advanceTimersByTime(600);
    expect(idle.take()).toBe(a);
    idle.put(a); // the timer armed for the first put fires at 1 000 and finds nothing due
    vi.advanceTimersByTime(999);
    expect(a.closed).toBe(false);
    vi.advanceTimersByTime(1);
    expect(a.closed).toBe(true);
    expect(vi.getTimerCount()).toBe(0);
  });
});
