import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import type { Operation } from "../../src/domain/source-options.js";
import { SourceTail } from "../../src/domain/source-tail.js";
import type { UnsealedFrame, WatchOptions } from "../../src/domain/watch-frames.js";
import { InMemoryChangeLog, sourceRecord } from "../support/fakes.js";

const A = "aaaaaaaaaaaaaaaa";

function options(over: Partial<WatchOptions> = {}): WatchOptions {
  return {
    ops: new Set<Operation>(),
    debounceMs: 0,
    maxWaitMs: 0,
    maxChangesPerWake: 500,
    heartbeatIntervalMs: 60_000,
    start: { position: "earliest" },
    ...over,
  };
}

/** A tail over an in-memory log; each emitted frame is recorded with the position at emit time. */
function tail(log: InMemoryChangeLog, over: Partial<WatchOptions> = {}, readPageSize = 100) {
  const emitted: { frame: UnsealedFrame; position: bigint }[] = [];
  const errors: unknown[] = [];
  const t: SourceTail = new SourceTail({
    tenant: "t1",
    record: sourceRecord(A),
    reader: log,
    options: options(over),
    readPageSize,
    emit: async (frame) => {
      emitted.push({ frame, position: t.position.seq });
    },
    isOpen: () => true,
    onError: (err) => errors.push(err),
  });
  const wakes = () => emitted.flatMap((e) => (e.frame.type === "wake" ? [e.frame] : []));
  return { t, emitted, errors, wakes };
}

describe("SourceTail", () => {
  beforeEach(() => {
    vi.useFakeTimers();
  });
  afterEach(() => {
    vi.useRealTimers();
  });

  it("should count as backlog what a notification announced and debounce still holds, until handed on", async () => {
    const log = new InMemoryChangeLog();
    const { t } = tail(log, { debounceMs: 1_000 });
    await t.begin({ gaps: [], position: 0n });
    t.goLive();
    expect(t.backlog).toBe(0n);
    log.append("t1", A, "insert", "insert", "insert");
    t.notify(3n);
    expect(t.backlog).toBe(3n);
    await t.drain();
    expect(t.backlog).toBe(3n); // read, but held by debounce
    await vi.advanceTimersByTimeAsync(1_000);
    expect(t.backlog).toBe(0n);
  });

  it("should announce the plan's gaps with their positions, then read after the start position", async () => {
    const log = new InMemoryChangeLog();
    log.append("t1", A, "insert", "insert", "insert");
    const { t, emitted } = tail(log);
    const gap = { reason: "retention", fromSeq: 1n, toSeq: 1n, detail: "pruned", positionAfter: 1n } as const;
    await t.begin({ gaps: [gap], position: 2n });
    expect(emitted).toEqual([{ frame: expect.objectContaining({ type: "gap", fromSeq: 1n }), position: 1n }]);
    await t.drain();
    expect(emitted.slice(1).map((e) => [e.frame.type === "wake" && e.frame.firstSeq, e.position])).toEqual([
      [3n, 3n],
    ]);
    expect(t.position.seq).toBe(3n);
  });

  it("should read every page and hand on one wake per change without debounce", async () => {
    const log = new InMemoryChangeLog();
    log.append("t1", A, "insert", "update", "delete", "insert", "update");
    const { t, wakes } = tail(log, {}, 2);
    await t.begin({ gaps: [], position: 0n });
    await t.drain();
    expect(wakes().map((w) => w.firstSeq)).toEqual([1n, 2n, 3n, 4n, 5n]);
    expect(log.reads).toBe(3);
  });

  it("should advance past filtered-out changes only when nothing is held before them", async () => {
    const log = new InMemoryChangeLog();
    log.append("t1", A, "update", "update");
    const { t, wakes } = tail(log, { ops: new Set<Operation>(["delete"]) });
    await t.begin({ gaps: [], position: 0n });
    await t.drain();
    expect(wakes()).toEqual([]);
    expect(t.position.seq).toBe(2n);
  });

  it("should hold a live burst for the debounce and hand it on as one wake covering what was read", async () => {
    const log = new InMemoryChangeLog();
    const { t, wakes, emitted } = tail(log, { debounceMs: 100, ops: new Set<Operation>(["insert"]) });
    await t.begin({ gaps: [], position: 0n });
    t.goLive();
    log.append("t1", A, "insert", "insert", "update");
    expect(t.notify(3n)).toBe(true);
    await t.drain();
    expect(wakes()).toEqual([]);
    expect(t.position.seq).toBe(0n);
    await vi.advanceTimersByTimeAsync(99);
    expect(wakes()).toEqual([]);
    await vi.advanceTimersByTimeAsync(1);
    expect(wakes().map((w) => [w.firstSeq, w.lastSeq, w.changes.length])).toEqual([[1n, 2n, 2]]);
    // The filtered-out update after the held changes is covered once they are handed on.
    expect(emitted[0]?.position).toBe(3n);
  });

  it("should bound the debounce by max_wait while changes keep coming", async () => {
    const log = new InMemoryChangeLog();
    const { t, wakes } = tail(log, { debounceMs: 100, maxWaitMs: 250 });
    await t.begin({ gaps: [], position: 0n });
    t.goLive();
    for (let i = 0; i < 4; i++) {
      log.append("t1", A, "insert");
      t.notify();
      await t.drain();
      await vi.advanceTimersByTimeAsync(80);
    }
    // 4 × 80 ms: the debounce alone would still wait; max_wait fired at 250 ms with the first 4.
    expect(wakes().map((w) => w.changes.length)).toEqual([4]);
  });

  it("should split held changes by max_changes_per_wake, the position following each piece", async () => {
    const log = new InMemoryChangeLog();
    log.append("t1", A, "insert", "insert", "insert", "insert", "insert");
    const { t, emitted } = tail(log, { debounceMs: 1_000, maxChangesPerWake: 2 });
    await t.begin({ gaps: [], position: 0n });
    await t.drain();
    await t.flush();
    expect(
      emitted.map((e) => (e.frame.type === "wake" ? [e.frame.firstSeq, e.frame.lastSeq, e.position] : [])),
    ).toEqual([
      [1n, 2n, 2n],
      [3n, 4n, 4n],
      [5n, 5n, 5n],
    ]);
  });

  it("should flush held changes before a gap entry and then pass the gap", async () => {
    const log = new InMemoryChangeLog();
    log.append("t1", A, "insert");
    log.appendGap("t1", A);
    const { t, emitted } = tail(log, { debounceMs: 1_000 });
    await t.begin({ gaps: [], position: 0n });
    t.goLive();
    await t.drain();
    expect(emitted.map((e) => [e.frame.type, e.position])).toEqual([
      ["wake", 1n],
      ["gap", 2n],
    ]);
  });

  it("should ignore a notification for entries it has already read", async () => {
    const log = new InMemoryChangeLog();
    log.append("t1", A, "insert", "insert");
    const { t } = tail(log);
    await t.begin({ gaps: [], position: 0n });
    await t.drain();
    expect(t.dirty).toBe(false);
    expect(t.notify(2n)).toBe(false);
    expect(t.dirty).toBe(false);
    expect(t.notify(3n)).toBe(true);
    expect(t.dirty).toBe(true);
  });

  it("should refuse to move its position backwards", async () => {
    const { t } = tail(new InMemoryChangeLog());
    await t.begin({ gaps: [], position: 5n });
    await expect(t.begin({ gaps: [], position: 4n })).rejects.toThrow(/move back from 5 to 4/);
  });

  it("should drop its debounce timer when closed", async () => {
    const log = new InMemoryChangeLog();
    const { t, wakes } = tail(log, { debounceMs: 100 });
    await t.begin({ gaps: [], position: 0n });
    t.goLive();
    log.append("t1", A, "insert");
    await t.drain();
    expect(vi.getTimerCount()).toBe(1);
    t.close();
    expect(vi.getTimerCount()).toBe(0);
    await vi.advanceTimersByTimeAsync(200);
    expect(wakes()).toEqual([]);
  });
});
