import fc from "fast-check";
import { describe, expect, it } from "vitest";
import {
  leaseTargets,
  planLeases,
  preferredReplica,
  type SourceLeaseView,
} from "../../src/domain/lease-plan.js";

const sources = (n: number, owner: (i: number) => string | undefined = () => undefined): SourceLeaseView[] =>
  Array.from({ length: n }, (_, i) => ({
    tenant: "t",
    sourceRef: `ref${String(i).padStart(4, "0")}`,
    liveOwner: owner(i),
  }));

/**
 * Runs the cluster to a fixed point: each round every replica plans against the same view, then
 * its releases are applied, then its acquisitions in replica order (the database lets only one
 * replica win a source). Returns the final owners and how many rounds it took.
 */
function settle(replicas: string[], start: SourceLeaseView[], maxRounds = 20) {
  const view = start.map((s) => ({ ...s }));
  for (let round = 1; round <= maxRounds; round++) {
    let moved = false;
    const plans = replicas.map((me) => ({ me, plan: planLeases({ me, replicas, sources: view }) }));
    for (const { me, plan } of plans) {
      for (const k of plan.release) {
        const s = view.find((v) => v.sourceRef === k.sourceRef && v.liveOwner === me);
        if (s) {
          s.liveOwner = undefined;
          moved = true;
        }
      }
    }
    for (const { me, plan } of plans) {
      for (const k of plan.acquire) {
        const s = view.find((v) => v.sourceRef === k.sourceRef);
        if (s && s.liveOwner === undefined) {
          s.liveOwner = me;
          moved = true;
        }
      }
    }
    if (!moved) return { view, rounds: round };
  }
  return { view, rounds: maxRounds + 1 };
}

const countBy = (view: SourceLeaseView[]) => {
  const counts = new Map<string, number>();
  for (const s of view) if (s.liveOwner) counts.set(s.liveOwner, (counts.get(s.liveOwner) ?? 0) + 1);
  return counts;
};

describe("lease plan", () => {
  it("should give the +1 of an uneven split to the replicas that already hold more", () => {
    const targets = leaseTargets(
      ["a", "b", "c"],
      new Map([
        ["c", 11],
        ["a", 10],
        ["b", 10],
      ]),
      31,
    );
    expect(Object.fromEntries(targets)).toEqual({ c: 11, a: 10, b: 10 });
  });

  it("should spread 30 free sources over three replicas ten each", () => {
    const { view, rounds } = settle(["a", "b", "c"], sources(30));
    expect(Object.fromEntries(countBy(view))).toEqual({ a: 10, b: 10, c: 10 });
    expect(rounds).toBeLessThanOrEqual(3);
  });

  it("should move nothing when the cluster is already balanced", () => {
    const view = sources(31, (i) => ["a", "b", "c"][i % 3]);
    for (const me of ["a", "b", "c"]) {
      const plan = planLeases({ me, replicas: ["a", "b", "c"], sources: view });
      expect(plan.acquire).toEqual([]);
      expect(plan.release).toEqual([]);
    }
  });

  it("should hand a joining replica its share by releases from the others", () => {
    const start = sources(30, (i) => (i < 15 ? "a" : "b"));
    const planA = planLeases({ me: "a", replicas: ["a", "b", "c"], sources: start });
    expect(planA.release).toHaveLength(5);
    const { view } = settle(["a", "b", "c"], start);
    expect(Object.fromEntries(countBy(view))).toEqual({ a: 10, b: 10, c: 10 });
  });

  it("should let the survivors take a dead replica's sources, half each", () => {
    // c is gone: its leases expired, so they show as free.
    const start = sources(30, (i) => (i % 3 === 2 ? undefined : ["a", "b"][i % 3]));
    const { view } = settle(["a", "b"], start);
    expect(Object.fromEntries(countBy(view))).toEqual({ a: 15, b: 15 });
  });

  it("should neither count nor take the live leases of a replica that is no longer live", () => {
    const start = sources(9, (i) => (i < 3 ? "gone" : undefined));
    const plan = planLeases({ me: "a", replicas: ["a", "b"], sources: start });
    expect(plan.targets.get("a")).toBe(3);
    expect(plan.acquire.every((k) => Number(k.sourceRef.slice(3)) >= 3)).toBe(true);
  });

  it("should ask racing replicas for different free sources first", () => {
    const free = sources(60);
    const a = planLeases({ me: "a", replicas: ["a", "b", "c"], sources: free }).acquire;
    const b = planLeases({ me: "b", replicas: ["a", "b", "c"], sources: free }).acquire;
    const overlap = a.filter((k) => b.some((x) => x.sourceRef === k.sourceRef));
    expect(overlap.length).toBeLessThan(5);
    expect(preferredReplica([], free[0] as SourceLeaseView)).toBeUndefined();
  });

  it("should deal the free sources to racing replicas disjointly, every one taken in one round", () => {
    // A replica left: its 100 sources are free; b, c and d hold 100 each and take about 33 each.
    const start = sources(400, (i) => (i < 100 ? undefined : ["b", "c", "d"][i % 3]));
    const replicas = ["b", "c", "d"];
    const plans = replicas.map((me) => planLeases({ me, replicas, sources: start }).acquire);
    const taken = plans.flat().map((k) => k.sourceRef);
    expect(new Set(taken).size).toBe(taken.length);
    expect(taken.sort()).toEqual(start.filter((s) => s.liveOwner === undefined).map((s) => s.sourceRef));
    const { view, rounds } = settle(replicas, start);
    expect(rounds).toBe(2); // one round takes every source, the next finds nothing to do
    const counts = replicas.map((id) => countBy(view).get(id) ?? 0);
    expect(Math.max(...counts) - Math.min(...counts)).toBeLessThanOrEqual(1);
  });

  it("should always settle within one source of even (property)", () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 5 }),
        fc.integer({ min: 0, max: 60 }),
        fc.array(fc.integer({ min: 0, max: 6 }), { maxLength: 60 }),
        (r, n, owners) => {
          const replicas = ["r0", "r1", "r2", "r3", "r4"].slice(0, r);
          // Start from any assignment, including owners that are not live (index >= r) and free sources.
          const start = sources(n, (i) => {
            const o = owners[i] ?? 6;
            return o < 5 ? `r${o}` : undefined;
          });
          const { view, rounds } = settle(replicas, start);
          expect(rounds).toBeLessThanOrEqual(20);
          const counts = replicas.map((id) => countBy(view).get(id) ?? 0);
          const assignable = view.filter((s) => !s.liveOwner || replicas.includes(s.liveOwner)).length;
          expect(counts.reduce((x, y) => x + y, 0)).toBe(assignable);
          expect(Math.max(...counts) - Math.min(...counts)).toBeLessThanOrEqual(1);
        },
      ),
      { numRuns: 200 },
    );
  });
});
