import fc from "fast-check";
import { describe, expect, it } from "vitest";
import type { BatchCommit, NewChange } from "../../src/domain/change-log.js";
import type { LogEntry } from "../../src/domain/log-entry.js";
import { RecentLog } from "../../src/storage/recent-log.js";

const T = "tenant-a";
const REF = "0123456789abcdef";

function change(i: number): NewChange {
  return {
    key: `"k${i}"`,
    operation: "insert",
    value: { id: i },
    oldValue: undefined,
    offset: `1_${i}`,
    txids: ["7"],
  };
}

function batch(from: number, n: number, extra: Partial<BatchCommit> = {}): BatchCommit {
  return {
    tenant: T,
    sourceRef: REF,
    generation: 1n,
    shapeHandle: "h",
    shapeOffset: `1_${from + n}`,
    gap: undefined,
    changes: Array.from({ length: n }, (_, i) => change(from + i)),
    upToDate: true,
    ...extra,
  };
}

/** A commit's outcome: head, entries appended, 10 characters of values per entry. */
const done = (headSeq: bigint, appended: number, valueChars = appended * 10) => ({
  result: { headSeq, appended },
  valueChars,
});

const seqs = (entries: LogEntry[] | undefined) => entries?.map((e) => Number(e.seq));

describe("RecentLog", () => {
  it("should serve the entries after a position with the seqs the commit gave them", () => {
    const log = new RecentLog(() => true);
    log.record("1", batch(0, 3), done(13n, 3));
    log.record("1", batch(3, 2), done(15n, 2));
    expect(seqs(log.read(T, REF, "1", 10n, 100))).toEqual([11, 12, 13, 14, 15]);
    expect(seqs(log.read(T, REF, "1", 12n, 2))).toEqual([13, 14]);
    const [entry] = log.read(T, REF, "1", 13n, 1) ?? [];
    expect(entry).toEqual({
      kind: "change",
      seq: 14n,
      key: '"k3"',
      operation: "insert",
      value: { id: 3 },
      oldValue: undefined,
      offset: "1_3",
      txids: ["7"],
    });
  });

  it("should send to Postgres a read it cannot answer whole", () => {
    const log = new RecentLog(() => true);
    log.record("1", batch(0, 3), done(13n, 3));
    expect(log.read(T, REF, "1", 9n, 10)).toBeUndefined(); // seq 10 is not kept
    expect(log.read(T, REF, "1", 13n, 10)).toBeUndefined(); // at the head: Postgres may know more
    expect(log.read(T, REF, "2", 10n, 10)).toBeUndefined(); // another incarnation
    expect(log.read(T, "fedcba9876543210", "1", 10n, 10)).toBeUndefined();
  });

  it("should number the gap first, as the commit statement does", () => {
    const log = new RecentLog(() => true);
    const gap = { reason: "must-refetch" as const, detail: "d", lastGoodOffset: undefined, newHandle: "h2" };
    log.record("1", batch(0, 2, { gap }), done(3n, 3));
    expect(log.read(T, REF, "1", 0n, 10)?.map((e) => [e.kind, Number(e.seq)])).toEqual([
      ["gap", 1],
      ["change", 2],
      ["change", 3],
    ]);
  });

  it("should keep nothing of a commit that dropped duplicates, nor of an unwatched source", () => {
    let watched = true;
    const log = new RecentLog(() => watched);
    log.record("1", batch(0, 3), done(3n, 3));
    log.record("1", batch(3, 3), done(5n, 2));
    expect(log.read(T, REF, "1", 0n, 10)).toBeUndefined();
    expect(log.size).toBe(0);
    log.record("1", batch(6, 1), done(6n, 1));
    expect(seqs(log.read(T, REF, "1", 5n, 10))).toEqual([6]);
    watched = false;
    log.record("1", batch(7, 1), done(7n, 1));
    expect(log.size).toBe(0);
  });

  it("should start over when a commit does not continue the kept run", () => {
    const log = new RecentLog(() => true);
    log.record("1", batch(0, 3), done(3n, 3));
    // Another replica appended 4..9 meanwhile.
    log.record("1", batch(3, 2), done(11n, 2));
    expect(log.read(T, REF, "1", 3n, 10)).toBeUndefined();
    expect(seqs(log.read(T, REF, "1", 9n, 10))).toEqual([10, 11]);
    log.record("2", batch(5, 1), done(12n, 1));
    expect(log.read(T, REF, "1", 11n, 10)).toBeUndefined();
    expect(seqs(log.read(T, REF, "2", 11n, 10))).toEqual([12]);
  });

  it("should stay within its bounds, dropping the least recently committed source first", () => {
    const log = new RecentLog(() => true, { maxPerSource: 4, maxEntries: 6, maxChars: 1_000 });
    log.record("1", batch(0, 6), done(6n, 6));
    expect(seqs(log.read(T, REF, "1", 2n, 10))).toEqual([3, 4, 5, 6]);
    const other = { ...batch(0, 3), sourceRef: "fedcba9876543210" };
    log.record("1", other, done(3n, 3));
    expect(log.size).toBe(3);
    expect(log.read(T, REF, "1", 2n, 10)).toBeUndefined();
    expect(seqs(log.read(T, other.sourceRef, "1", 0n, 10))).toEqual([1, 2, 3]);
  });

  it("should bound the kept row values, dropping even the newest run when it alone is too large", () => {
    const log = new RecentLog(() => true, { maxPerSource: 100, maxEntries: 100, maxChars: 100 });
    log.record("1", batch(0, 4), done(4n, 4, 80));
    const other = { ...batch(0, 2), sourceRef: "fedcba9876543210" };
    log.record("1", other, done(2n, 2, 40));
    expect(log.read(T, REF, "1", 0n, 10)).toBeUndefined(); // dropped to make room
    expect(seqs(log.read(T, other.sourceRef, "1", 0n, 10))).toEqual([1, 2]);
    log.record("1", batch(4, 1), done(5n, 1, 500));
    expect(log.read(T, REF, "1", 4n, 10)).toBeUndefined();
    expect(log.size).toBe(2);
  });

  it("should answer every read exactly as the full log would, whatever the commits and bounds", () => {
    fc.assert(
      fc.property(
        fc.array(fc.record({ n: fc.integer({ min: 1, max: 6 }), foreign: fc.integer({ min: 0, max: 2 }) }), {
          minLength: 1,
          maxLength: 20,
        }),
        fc.integer({ min: 1, max: 12 }),
        fc.array(fc.tuple(fc.nat(80), fc.integer({ min: 1, max: 10 })), { maxLength: 20 }),
        (commits, maxPerSource, reads) => {
          const log = new RecentLog(() => true, { maxPerSource, maxEntries: 1_000, maxChars: 1_000_000 });
          const full: number[] = [];
          let head = 0;
          for (const { n, foreign } of commits) {
            head += foreign; // appended elsewhere, never recorded here
            for (let i = 1; i <= foreign; i++) full.push(head - foreign + i);
            log.record("1", batch(head, n), done(BigInt(head + n), n));
            for (let i = 1; i <= n; i++) full.push(head + i);
            head += n;
          }
          for (const [after, limit] of reads) {
            const kept = log.read(T, REF, "1", BigInt(after), limit);
            if (kept) expect(seqs(kept)).toEqual(full.filter((s) => s > after).slice(0, limit));
          }
        },
      ),
    );
  });
});
