import { describe, expect, it, vi } from "vitest";
import { ConsumerTooSlowError } from "../../src/domain/errors.js";
import type { Operation } from "../../src/domain/source-options.js";
import type { WatchFrame, WatchOptions } from "../../src/domain/watch-frames.js";
import { type WatchLimits, WatchSession } from "../../src/domain/watch-session.js";
import { InMemoryChangeLog, sourceRecord } from "../support/fakes.js";

const A = "aaaaaaaaaaaaaaaa";
const B = "bbbbbbbbbbbbbbbb";
const LIMITS: WatchLimits = { maxBufferedFrames: 100, stallTimeoutMs: 1_000, readPageSize: 3 };

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

function open(log: InMemoryChangeLog, over: Partial<WatchOptions> = {}, refs = [A], limits = LIMITS) {
  const session = new WatchSession({
    tenant: "t1",
    sources: refs.map((r) => sourceRecord(r)),
    reader: log,
    notifier: log,
    getSource: (r) => log.source("t1", r),
    options: options(over),
    limits,
  });
  const aborter = new AbortController();
  const it = session.frames(aborter.signal)[Symbol.asyncIterator]();
  const next = async (): Promise<WatchFrame> => {
    const r = await it.next();
    if (r.done) throw new Error("stream ended");
    return r.value;
  };
  return { session, aborter, it, next };
}

async function take(next: () => Promise<WatchFrame>, n: number): Promise<WatchFrame[]> {
  const out: WatchFrame[] = [];
  for (let i = 0; i < n; i++) out.push(await next());
  return out;
}

describe("WatchSession", () => {
  it("should deliver the backlog one wake per change, then Ready, then live wakes", async () => {
    const log = new InMemoryChangeLog();
    log.append("t1", A, "insert", "update", "delete", "insert");
    const s = open(log);
    const frames = await take(s.next, 5);
    expect(frames.map((f) => f.type)).toEqual(["wake", "wake", "wake", "wake", "ready"]);
    expect(frames.slice(0, 4).map((f) => (f.type === "wake" ? f.wakeId : ""))).toEqual([
      `${A}-1-1-1`,
      `${A}-1-2-2`,
      `${A}-1-3-3`,
      `${A}-1-4-4`,
    ]);
    log.append("t1", A, "update");
    const live = await s.next();
    expect(live.type === "wake" && live.changes[0]?.operation).toBe("update");
    s.aborter.abort();
  });

  it("should give a re-registered source's wakes ids distinct from the old incarnation's", async () => {
    // DeleteSource + RegisterSource: the log starts again at seq 1 under a new incarnation.
    const before = new InMemoryChangeLog();
    before.append("t1", A, "insert");
    const after = new InMemoryChangeLog();
    after.append("t1", A, "insert");
    const ids: string[] = [];
    for (const [log, incarnation] of [
      [before, "1"],
      [after, "2"],
    ] as const) {
      const session = new WatchSession({
        tenant: "t1",
        sources: [sourceRecord(A, { incarnation })],
        reader: log,
        notifier: log,
        getSource: async (r) => sourceRecord(r, { incarnation }),
        options: options(),
        limits: LIMITS,
      });
      const aborter = new AbortController();
      const first = await session.frames(aborter.signal)[Symbol.asyncIterator]().next();
      aborter.abort();
      if (first.value?.type === "wake") ids.push(first.value.wakeId);
    }
    expect(ids).toHaveLength(2);
    expect(ids[0]).not.toBe(ids[1]);
  });

  it("should start at the head with START_POSITION_NOW", async () => {
    const log = new InMemoryChangeLog();
    log.append("t1", A, "insert", "insert");
    const s = open(log, { start: { position: "now" } });
    const ready = await s.next();
    expect(ready.type).toBe("ready");
    expect(ready.type === "ready" && ready.positions[0]?.seq).toBe(2n);
    log.append("t1", A, "delete");
    const wake = await s.next();
    expect(wake.type === "wake" && wake.firstSeq).toBe(3n);
    s.aborter.abort();
  });

  it("should filter by ops and still advance the position past filtered changes", async () => {
    const log = new InMemoryChangeLog();
    log.append("t1", A, "insert", "update", "delete", "update");
    const s = open(log, { ops: new Set<Operation>(["delete"]) });
    const [wake, ready] = await take(s.next, 2);
    expect(wake?.type === "wake" && wake.changes.map((c) => c.operation)).toEqual(["delete"]);
    expect(ready?.type === "ready" && ready.positions[0]?.seq).toBe(4n);
    s.aborter.abort();
  });

  it("should coalesce a burst into one wake with debounce and split by max_changes_per_wake", async () => {
    const log = new InMemoryChangeLog();
    const s = open(log, { debounceMs: 30, maxChangesPerWake: 4, start: { position: "now" } });
    expect((await s.next()).type).toBe("ready");
    log.append("t1", A, "insert", "insert", "insert", "insert", "insert", "insert");
    const [w1, w2] = await take(s.next, 2);
    expect(w1?.type === "wake" && w1.changes.length).toBe(4);
    expect(w2?.type === "wake" && [w2.firstSeq, w2.lastSeq]).toEqual([5n, 6n]);
    s.aborter.abort();
  });

  it("should resume from a wake's token with exactly the rest", async () => {
    const log = new InMemoryChangeLog();
    log.append("t1", A, "insert", "insert", "insert", "insert", "insert");
    const first = open(log);
    const frames = await take(first.next, 2);
    const token = (frames[1] as WatchFrame).token;
    first.aborter.abort();
    await first.it.return?.(undefined);
    const second = open(log, { start: { token } });
    const rest = await take(second.next, 4);
    expect(rest.map((f) => (f.type === "wake" ? Number(f.firstSeq) : f.type))).toEqual([3, 4, 5, "ready"]);
    second.aborter.abort();
  });

  it("should announce a retention gap first when the token is older than the log", async () => {
    const log = new InMemoryChangeLog();
    log.append("t1", A, "insert", "insert", "insert", "insert", "insert");
    const first = open(log);
    const token = (await first.next()).token; // after seq 1
    first.aborter.abort();
    log.prune("t1", A, 4n);
    const second = open(log, { start: { token } });
    const [gap, w4] = await take(second.next, 2);
    expect(gap).toMatchObject({ type: "gap", reason: "retention", fromSeq: 2n, toSeq: 3n });
    expect(w4?.type === "wake" && w4.firstSeq).toBe(4n);
    second.aborter.abort();
  });

  it("should turn a gap entry into a Gap frame in order", async () => {
    const log = new InMemoryChangeLog();
    log.append("t1", A, "insert");
    log.appendGap("t1", A);
    log.append("t1", A, "insert");
    const s = open(log);
    const frames = await take(s.next, 4);
    expect(frames.map((f) => f.type)).toEqual(["wake", "gap", "wake", "ready"]);
    expect(frames[1]).toMatchObject({ reason: "must-refetch", fromSeq: 2n });
    s.aborter.abort();
  });

  it("should send a final status frame and end when the only source is deleted", async () => {
    const log = new InMemoryChangeLog();
    const s = open(log, { start: { position: "now" } });
    expect((await s.next()).type).toBe("ready");
    log.emitState("t1", A, "STOPPED", true);
    expect(await s.next()).toMatchObject({ type: "status", deleted: true, sourceRef: A });
    expect((await s.it.next()).done).toBe(true);
  });

  it("should tell the watcher when a source fails, with the reason", async () => {
    const log = new InMemoryChangeLog();
    const s = open(log, { start: { position: "now" } }, [A, B]);
    expect((await s.next()).type).toBe("ready");
    log.emitState("t1", B, "FAILED", false, "table dropped");
    expect(await s.next()).toMatchObject({
      type: "status",
      sourceRef: B,
      state: "FAILED",
      reason: "table dropped",
    });
    s.aborter.abort();
  });

  it("should act on the source as stored, not on what a notification claims", async () => {
    const log = new InMemoryChangeLog();
    const s = open(log, { start: { position: "now" } }, [A, B]);
    expect((await s.next()).type).toBe("ready");
    // A forged "source changed" hint: the stored source is LIVE and exists, so nothing is told.
    log.notifyOnly("t1", A);
    log.notifyOnly("t1", B);
    // Then B really fails and recovers, and A is really deleted: each is told, in order.
    log.emitState("t1", B, "FAILED", false, "table dropped");
    expect(await s.next()).toMatchObject({ type: "status", sourceRef: B, state: "FAILED" });
    log.emitState("t1", B, "LIVE");
    expect(await s.next()).toMatchObject({
      type: "status",
      sourceRef: B,
      state: "LIVE",
      reason: "the source recovered",
    });
    log.emitState("t1", A, "STOPPED", true);
    expect(await s.next()).toMatchObject({ type: "status", sourceRef: A, deleted: true });
    log.append("t1", B, "insert");
    expect(await s.next()).toMatchObject({ type: "wake", sourceRef: B });
    s.aborter.abort();
  });

  it("should treat a source registered again under a new incarnation as deleted", async () => {
    const log = new InMemoryChangeLog();
    const record = sourceRecord(A);
    const session = new WatchSession({
      tenant: "t1",
      sources: [record],
      reader: log,
      notifier: log,
      getSource: async () => ({ ...record, incarnation: "2" }),
      options: options({ start: { position: "now" } }),
      limits: LIMITS,
    });
    const it = session.frames(new AbortController().signal)[Symbol.asyncIterator]();
    expect((await it.next()).value?.type).toBe("ready");
    log.notifyOnly("t1", A);
    expect((await it.next()).value).toMatchObject({ type: "status", sourceRef: A, deleted: true });
    expect((await it.next()).done).toBe(true);
  });

  it("should cut a stalled consumer with its last handed-on token", async () => {
    const log = new InMemoryChangeLog();
    const s = open(log, { start: { position: "now" } }, [A], {
      maxBufferedFrames: 5,
      stallTimeoutMs: 50,
      readPageSize: 100,
    });
    const ready = await s.next();
    log.append("t1", A, ...Array.from({ length: 50 }, () => "insert" as const));
    await new Promise((r) => setTimeout(r, 150));
    const err = await s.it.next().then(
      () =>
        s.it.next().then(
          () => undefined,
          (e: unknown) => e,
        ),
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(ConsumerTooSlowError);
    expect((err as ConsumerTooSlowError).resumeToken).not.toBe("");
    expect(ready.type).toBe("ready");
  });

  it("should cut a stalled consumer by buffered bytes long before the frame bound", async () => {
    const log = new InMemoryChangeLog();
    const s = open(log, { start: { position: "now" } }, [A], {
      maxBufferedFrames: 1_000,
      maxBufferedBytes: 2_000,
      stallTimeoutMs: 50,
      readPageSize: 100,
    });
    expect((await s.next()).type).toBe("ready");
    vi.useFakeTimers();
    try {
      log.append("t1", A, ...Array.from({ length: 200 }, () => "insert" as const));
      // Nobody reads: the buffer fills by bytes, then stays full past the stall timeout.
      await vi.advanceTimersByTimeAsync(100);
    } finally {
      vi.useRealTimers();
    }
    const err = await s.it.next().then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(ConsumerTooSlowError);
    const tooSlow = err as ConsumerTooSlowError;
    expect(tooSlow.resumeToken).not.toBe("");
    expect(tooSlow.bufferedBytes).toBeGreaterThanOrEqual(2_000);
    expect(tooSlow.bufferedFrames).toBeLessThan(100);
  });

  it("should release subscriptions and timers when cancelled", async () => {
    const log = new InMemoryChangeLog();
    const timersBefore = process.getActiveResourcesInfo().filter((r) => r === "Timeout").length;
    for (let i = 0; i < 50; i++) {
      const s = open(log, { debounceMs: 1_000, heartbeatIntervalMs: 100, start: { position: "now" } }, [
        A,
        B,
      ]);
      await s.next();
      log.append("t1", A, "insert");
      s.aborter.abort();
      await s.it.return?.(undefined);
    }
    expect(log.subscriptions).toBe(0);
    const timersAfter = process.getActiveResourcesInfo().filter((r) => r === "Timeout").length;
    expect(timersAfter).toBeLessThanOrEqual(timersBefore);
  });
});
