import { describe, expect, it } from "vitest";
import { Coalescer } from "../../src/domain/coalescer.js";
import { dealPicks, dealRuns } from "../../src/storage/pg-consumer-group-claim.js";

/** A flush that records its batches and resolves when the test says so. */
function gatedFlush() {
  const batches: string[][] = [];
  const gates: (() => void)[] = [];
  const flush = async (items: readonly string[]) => {
    batches.push([...items]);
    await new Promise<void>((resolve) => gates.push(resolve));
    return items.map((i) => `done:${i}`);
  };
  return { batches, gates, flush };
}

/** Runs deferred flushes by hand, so the test decides when a batch starts. */
function manualDefer() {
  const queued: (() => void)[] = [];
  return {
    queued,
    defer: (run: () => void) => queued.push(run),
    runAll: () => {
      for (const r of queued.splice(0)) r();
    },
  };
}

const tick = () => new Promise<void>((resolve) => setImmediate(resolve));

describe("Coalescer", () => {
  it("should settle calls arriving during a flush together in the next flush, each with its own results", async () => {
    const { batches, gates, flush } = gatedFlush();
    const d = manualDefer();
    const c = new Coalescer<string, string>(100, d.defer);
    const first = c.submit("g", ["a"], flush);
    d.runAll();
    await tick();
    expect(batches).toEqual([["a"]]);
    const second = c.submit("g", ["b", "c"], flush);
    const third = c.submit("g", ["d"], flush);
    expect(d.queued).toHaveLength(0);
    gates.shift()?.();
    expect(await first).toEqual(["done:a"]);
    await tick();
    expect(batches).toEqual([["a"], ["b", "c", "d"]]);
    gates.shift()?.();
    expect(await second).toEqual(["done:b", "done:c"]);
    expect(await third).toEqual(["done:d"]);
    expect(c.pending).toBe(0);
  });

  it("should keep keys apart and cap a batch at maxItems without splitting a call", async () => {
    const { batches, gates, flush } = gatedFlush();
    const d = manualDefer();
    const c = new Coalescer<string, string>(3, d.defer);
    const calls = [
      c.submit("g1", ["a", "b"], flush),
      c.submit("g1", ["c", "d"], flush),
      c.submit("g2", ["x"], flush),
    ];
    d.runAll();
    await tick();
    expect(batches).toEqual([["a", "b"], ["x"]]);
    for (const g of gates.splice(0)) g();
    await tick();
    expect(batches).toEqual([["a", "b"], ["x"], ["c", "d"]]);
    for (const g of gates.splice(0)) g();
    expect(await Promise.all(calls)).toEqual([["done:a", "done:b"], ["done:c", "done:d"], ["done:x"]]);
  });

  it("should fail every call of a failed flush and go on with later ones", async () => {
    const c = new Coalescer<string, string>(10);
    let fail = true;
    const flush = async (items: readonly string[]) => {
      if (fail) throw new Error("boom");
      return items.map((i) => i.toUpperCase());
    };
    const a = c.submit("g", ["a"], flush);
    const b = c.submit("g", ["b"], flush);
    await expect(a).rejects.toThrow("boom");
    await expect(b).rejects.toThrow("boom");
    fail = false;
    expect(await c.submit("g", ["c"], flush)).toEqual(["C"]);
  });

  it("should reject a flush that returns the wrong number of results", async () => {
    const c = new Coalescer<string, string>(10);
    await expect(c.submit("g", ["a", "b"], async () => ["x"])).rejects.toThrow("1 results for 2 items");
  });

  it("should refuse a non-positive maxItems", () => {
    expect(() => new Coalescer(0)).toThrow("maxItems");
  });
});

describe("dealPicks", () => {
  it("should deal picks round-robin and never give a member more than its room", () => {
    const owners = dealPicks(7, [
      { memberId: "a", room: 1 },
      { memberId: "b", room: 4 },
      { memberId: "c", room: 2 },
    ]);
    expect(owners).toEqual(["a", "b", "c", "b", "c", "b", "b"]);
    expect(dealPicks(10, [{ memberId: "a", room: 2 }])).toEqual(["a", "a"]);
    expect(dealPicks(0, [{ memberId: "a", room: 2 }])).toEqual([]);
  });
});

describe("dealRuns", () => {
  it("should give each member its dealPicks share as one run of consecutive picks", () => {
    const rooms = [
      { memberId: "a", room: 1 },
      { memberId: "b", room: 4 },
      { memberId: "c", room: 2 },
    ];
    expect(dealRuns(7, rooms)).toEqual(["a", "b", "b", "b", "b", "c", "c"]);
    expect(dealRuns(4, rooms)).toEqual(["a", "b", "b", "c"]);
    expect(dealRuns(10, [{ memberId: "a", room: 2 }])).toEqual(["a", "a"]);
    expect(dealRuns(0, rooms)).toEqual([]);
  });
});
