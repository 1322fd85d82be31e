import { describe, expect, it } from "vitest";
import { StartGate } from "../../src/domain/start-gate.js";
import { waitFor } from "../support/wait.js";

describe("StartGate", () => {
  it("should let at most `limit` hold a slot and pass freed slots on in arrival order", async () => {
    const gate = new StartGate(2, 60_000);
    const signal = new AbortController().signal;
    const a = await gate.acquire(signal);
    const b = await gate.acquire(signal);
    const order: string[] = [];
    const granted = (name: string) => (release: () => void) => {
      order.push(name);
      return release;
    };
    const c = gate.acquire(signal).then(granted("c"));
    const d = gate.acquire(signal).then(granted("d"));
    await waitFor(() => gate.waiting === 2 || undefined, { what: "two waiters" });
    expect(gate.active).toBe(2);
    a();
    a(); // a second call gives nothing back
    await c;
    expect(order).toEqual(["c"]);
    expect(gate.waiting).toBe(1);
    b();
    (await d)();
    (await c)();
    expect(order).toEqual(["c", "d"]);
    expect(gate.active).toBe(0);
  });

  it("should drop a waiter whose signal aborts and give the slot to the next", async () => {
    const gate = new StartGate(1, 60_000);
    const release = await gate.acquire(new AbortController().signal);
    const stopped = new AbortController();
    const aborted = gate.acquire(stopped.signal);
    const next = gate.acquire(new AbortController().signal);
    stopped.abort(new Error("bridge stopped"));
    await expect(aborted).rejects.toThrow("bridge stopped");
    expect(gate.waiting).toBe(1);
    release();
    (await next)();
    expect(gate.active).toBe(0);
  });

  it("should take a slot back from a holder that never releases it", async () => {
    const gate = new StartGate(1, 50);
    await gate.acquire(new AbortController().signal);
    const release = await gate.acquire(new AbortController().signal);
    release();
    expect(gate.active).toBe(0);
  });
});
