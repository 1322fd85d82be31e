import { describe, expect, it } from "vitest";
import { plannerInput } from "../../src/bridge/planner-input.js";
import type { SourceKey } from "../../src/domain/lease-plan.js";
import type { ClusterView, HeldLease } from "../../src/domain/lease-store.js";

const me = { replicaId: "a", incarnation: "i1" };
const key = (sourceRef: string): SourceKey => ({ tenant: "t", sourceRef });
const heldMap = (...refs: string[]) =>
  new Map(refs.map((r) => [`t\u0000${r}`, { lease: { ...key(r), term: 1n } satisfies HeldLease }]));

function view(held: Record<string, number>, free: string[] = []): ClusterView {
  return { replicas: ["a", "b"], held: new Map(Object.entries(held)), free: free.map(key), orphaned: 0 };
}

/** A store whose `owned` answers `refs` and counts its calls. */
function ownedStore(refs: string[]) {
  const store = {
    calls: 0,
    owned: async () => {
      store.calls++;
      return refs.map(key);
    },
  };
  return store;
}

describe("plannerInput", () => {
  it("should take this replica's leases from memory when the database's count agrees", async () => {
    const store = ownedStore(["x", "y"]);
    const input = await plannerInput(view({ a: 2, b: 3 }, ["f"]), me, heldMap("x", "y"), store, false);
    expect(store.calls).toBe(0);
    expect(input.mine()).toEqual([key("x"), key("y")]);
    expect(input.free).toEqual([key("f")]);
    expect(input.held.get("a")).toBe(2);
  });

  it("should treat a lease the database gives here but no bridge runs under as free", async () => {
    const store = ownedStore(["x", "y", "stray"]);
    const input = await plannerInput(view({ a: 3, b: 3 }, ["f"]), me, heldMap("x", "y"), store, false);
    expect(store.calls).toBe(1);
    expect(input.mine()).toEqual([key("x"), key("y")]);
    expect(input.free).toEqual([key("f"), key("stray")]);
    expect(input.held.get("a")).toBe(2);
    expect(input.held.get("b")).toBe(3);
  });

  it("should read the database's list when asked even if the counts agree", async () => {
    const store = ownedStore(["x", "stray"]);
    const input = await plannerInput(view({ a: 2 }), me, heldMap("x", "gone"), store, true);
    expect(store.calls).toBe(1);
    expect(input.mine()).toEqual([key("x")]);
    expect(input.free).toEqual([key("stray")]);
    expect(input.held.get("a")).toBe(1);
  });
});
