import type { LeaseCounts, SourceKey } from "../domain/lease-plan.js";
import type { ClusterView, HeldLease, LeaseStore, ReplicaIdentity } from "../domain/lease-store.js";
import { sourceKey } from "../domain/source-key.js";

const keyOf = (k: SourceKey) => sourceKey(k.tenant, k.sourceRef);

/**
 * The lease planner's input: the view's counts, and this replica's leases from memory (`held`,
 * by source key). When the database's count for this replica differs from the leases held here,
 * or when `checkOwned`, the database's list of them is read: a lease it still gives to this
 * replica but no bridge here runs under (its bridge was fenced or dropped) is free to this
 * replica, and re-acquiring it bumps the term again.
 */
export async function plannerInput(
  view: ClusterView,
  me: ReplicaIdentity,
  held: ReadonlyMap<string, { readonly lease: HeldLease }>,
  store: Pick<LeaseStore, "owned">,
  checkOwned: boolean,
): Promise<LeaseCounts> {
  const mine = () =>
    [...held.values()].map(({ lease }) => ({ tenant: lease.tenant, sourceRef: lease.sourceRef }));
  const base = { me: me.replicaId, replicas: view.replicas, held: view.held, free: view.free, mine };
  if ((view.held.get(me.replicaId) ?? 0) === held.size && !checkOwned) return base;
  const owned = await store.owned(me);
  const runs = owned.filter((k) => held.has(keyOf(k)));
  const stray = owned.filter((k) => !held.has(keyOf(k)));
  return {
    ...base,
    held: new Map(view.held).set(me.replicaId, runs.length),
    free: [...view.free, ...stray],
    mine: () => runs,
  };
}
