import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { BoundedOutbox, type OutboxBacklog } from "../../src/domain/bounded-outbox.js";

class StallError extends Error {
  constructor(readonly backlog: OutboxBacklog) {
    super("stalled");
  }
}

function outbox(maxItems = 3, stallTimeoutMs = 1_000, maxBytes = Number.POSITIVE_INFINITY) {
  return new BoundedOutbox<number>(
    { maxItems, maxBytes, stallTimeoutMs },
    (backlog) => new StallError(backlog),
  );
}

/** Records when a promise settles, so a test can tell "still waiting" from "done". */
function track(p: Promise<void>) {
  const state = { settled: false };
  void p.then(() => {
    state.settled = true;
  });
  return state;
}

describe("BoundedOutbox", () => {
  beforeEach(() => {
    vi.useFakeTimers();
  });
  afterEach(() => {
    vi.useRealTimers();
  });

  it("should hand items to the consumer in order and end normally", async () => {
    const box = outbox();
    const it = box.items(new AbortController().signal);
    await box.push(1);
    await box.push(2);
    box.end();
    expect(await it.next()).toEqual({ value: 1, done: false });
    expect(await it.next()).toEqual({ value: 2, done: false });
    expect((await it.next()).done).toBe(true);
  });

  it("should wake a waiting consumer when an item arrives", async () => {
    const box = outbox();
    const it = box.items(new AbortController().signal);
    const next = it.next();
    await box.push(7);
    expect(await next).toEqual({ value: 7, done: false });
  });

  it("should make a producer wait while full and release it when the consumer takes one", async () => {
    const box = outbox(2);
    const it = box.items(new AbortController().signal);
    await box.push(1);
    const second = track(box.push(2));
    await vi.advanceTimersByTimeAsync(500);
    expect(second.settled).toBe(false);
    expect(box.size).toBe(2);
    await it.next();
    await vi.advanceTimersByTimeAsync(0);
    expect(second.settled).toBe(true);
    expect(box.ended).toBe(false);
  });

  it("should cut a stalled consumer: drop the buffer and end with the stall error", async () => {
    const box = outbox(2, 1_000);
    const it = box.items(new AbortController().signal);
    await box.push(1);
    const waiting = track(box.push(2));
    await vi.advanceTimersByTimeAsync(1_000);
    expect(waiting.settled).toBe(true);
    expect(box.ended).toBe(true);
    expect(box.size).toBe(0);
    const err = await it.next().then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(StallError);
    expect((err as StallError).backlog.items).toBe(2);
  });

  it("should make a producer wait while the buffered bytes reach the bound, with few items", async () => {
    const box = outbox(100, 1_000, 1_000);
    const it = box.items(new AbortController().signal);
    await box.push(1, 600);
    const second = track(box.push(2, 600));
    await vi.advanceTimersByTimeAsync(500);
    expect(second.settled).toBe(false);
    expect([box.size, box.bytes]).toEqual([2, 1_200]);
    // One taken: 600 bytes left, under the bound.
    await it.next();
    await vi.advanceTimersByTimeAsync(0);
    expect(second.settled).toBe(true);
    expect(box.bytes).toBe(600);
  });

  it("should keep a producer waiting until enough bytes are taken, and cut it when they are not", async () => {
    const box = outbox(100, 1_000, 1_000);
    const it = box.items(new AbortController().signal);
    await box.push(1, 100);
    await box.push(2, 100);
    const big = track(box.push(3, 900));
    // Taking one 100-byte item leaves 1,000 bytes: still full, so the producer keeps waiting.
    await it.next();
    await vi.advanceTimersByTimeAsync(999);
    expect(big.settled).toBe(false);
    await vi.advanceTimersByTimeAsync(1);
    expect(big.settled).toBe(true);
    const err = await it.next().then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(StallError);
    expect((err as StallError).backlog).toEqual({ items: 2, bytes: 1_000 });
  });

  it("should still hand on a single item larger than the byte bound", async () => {
    const box = outbox(100, 1_000, 1_000);
    const it = box.items(new AbortController().signal);
    const huge = track(box.push(1, 5_000));
    expect(await it.next()).toEqual({ value: 1, done: false });
    await vi.advanceTimersByTimeAsync(0);
    expect(huge.settled).toBe(true);
    expect(box.ended).toBe(false);
  });

  it("should deliver what is queued before the end error", async () => {
    const box = outbox();
    const it = box.items(new AbortController().signal);
    await box.push(1);
    box.end(new Error("boom"));
    expect(await it.next()).toEqual({ value: 1, done: false });
    await expect(it.next()).rejects.toThrow("boom");
  });

  it("should keep the first end and ignore pushes after it", async () => {
    const box = outbox();
    const it = box.items(new AbortController().signal);
    box.end();
    box.end(new Error("late"));
    await box.push(1);
    expect(box.size).toBe(0);
    expect((await it.next()).done).toBe(true);
  });

  it("should release a waiting producer when the outbox ends", async () => {
    const box = outbox(1);
    const waiting = track(box.push(1));
    await vi.advanceTimersByTimeAsync(10);
    expect(waiting.settled).toBe(false);
    box.end();
    await vi.advanceTimersByTimeAsync(0);
    expect(waiting.settled).toBe(true);
    expect(vi.getTimerCount()).toBe(0);
  });

  it("should stop the consumer when its signal aborts", async () => {
    const box = outbox();
    const aborter = new AbortController();
    const it = box.items(aborter.signal);
    const next = it.next();
    aborter.abort();
    expect((await next).done).toBe(true);
  });
});
