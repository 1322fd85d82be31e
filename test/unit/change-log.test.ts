import { describe, expect, it } from "vitest";
import { type BatchCommit, splitBatch } from "../../src/domain/change-log.js";

const batch = (n: number): BatchCommit => ({
  tenant: "t",
  sourceRef: "r",
  generation: 3n,
  shapeHandle: "h",
  shapeOffset: "99_0",
  gap: { reason: "must-refetch", detail: "d", lastGoodOffset: "1_0", newHandle: "h" },
  changes: Array.from({ length: n }, (_, i) => ({
    key: `k${i}`,
    operation: "insert",
    value: { i },
    oldValue: undefined,
    offset: `${i + 1}_0`,
    txids: [],
  })),
  upToDate: true,
});

describe("splitBatch", () => {
  it("should return a batch within the bound as it is", () => {
    const b = batch(5);
    expect(splitBatch(b, 5)).toEqual([b]);
  });

  it("should put the gap first, the cursor and up-to-date last, and mark the rest partial", () => {
    const parts = splitBatch(batch(7), 3);
    expect(parts.map((p) => p.changes.map((c) => c.key))).toEqual([
      ["k0", "k1", "k2"],
      ["k3", "k4", "k5"],
      ["k6"],
    ]);
    expect(parts.map((p) => p.gap !== undefined)).toEqual([true, false, false]);
    expect(parts.map((p) => p.partial)).toEqual([true, true, false]);
    expect(parts.map((p) => p.upToDate)).toEqual([false, false, true]);
    expect(parts.every((p) => p.shapeHandle === "h" && p.generation === 3n)).toBe(true);
  });

  it("should refuse a bound that is not a positive integer, naming it", () => {
    expect(() => splitBatch(batch(2), 0)).toThrow(/maxChanges/);
    expect(() => splitBatch(batch(2), 1.5)).toThrow(/maxChanges/);
  });
});
