import { createHash } from "node:crypto";

/*
 * Balanced ownership of sources across live replicas. Pure: every replica computes the same plan
 * from the same view of the state database and acts only on its own part of it.
 *
 *   N sources that can be leased, R live replicas, base = floor(N / R), extra = N mod R.
 *   Replicas are ranked by how many leases they hold now (most first, then by id); the first
 *   `extra` get base + 1, the rest base. Ranking by current holdings gives the +1 to replicas
 *   that already have it, so a balanced cluster never moves a source.
 *
 *   held > target  → release the surplus (sources this replica is least preferred for first)
 *   held < target  → acquire its part of the free sources, dealt in key order each to the
 *                    replica with the highest rendezvous score that is still below its target
 *
 * The targets add up to N, so every released or free source has a replica below its target to
 * take it, and at rest every replica holds exactly its target: within one of even. Every
 * replica deals the free sources the same way from the same view, so replicas acquiring at once
 * ask for disjoint sources and take them all in one round (no lost race, no wait for a re-plan).
 */

/** A source as seen by the planner. */
export interface SourceLeaseView {
  readonly tenant: string;
  readonly sourceRef: string;
  /** Replica holding an unexpired lease; undefined when the lease is free or expired. */
  readonly liveOwner: string | undefined;
}

/** A source's identity. */
export interface SourceKey {
  readonly tenant: string;
  readonly sourceRef: string;
}

/** Input of {@link planLeases}. */
export interface LeasePlanInput {
  /** This replica's id. */
  readonly me: string;
  /** Live replicas (this one included when it is live). */
  readonly replicas: readonly string[];
  /** Every source that should run (resumable states). */
  readonly sources: readonly SourceLeaseView[];
}

/** What this replica should do. */
export interface LeasePlan {
  /** Free sources to try to acquire, best first (another replica may win some). */
  readonly acquire: readonly SourceKey[];
  /** Held sources to hand over. */
  readonly release: readonly SourceKey[];
  /** Target lease count per live replica. */
  readonly targets: ReadonlyMap<string, number>;
}

/** Rendezvous score of `replica` for a source: the higher, the more the source belongs there. */
export function rendezvousScore(replica: string, key: SourceKey): bigint {
  // A cryptographic hash mixes well enough that each replica's order of the sources is independent.
  const digest = createHash("sha256").update(`${replica}\u0000${key.tenant}\u0000${key.sourceRef}`).digest();
  return digest.readBigUInt64BE(0);
}

/** The live replica a source belongs to by rendezvous hashing. */
export function preferredReplica(replicas: readonly string[], key: SourceKey): string | undefined {
  let best: string | undefined;
  let bestScore = -1n;
  for (const replica of replicas) {
    const score = rendezvousScore(replica, key);
    if (score > bestScore || (score === bestScore && best !== undefined && replica < best)) {
      best = replica;
      bestScore = score;
    }
  }
  return best;
}

/** Target lease count per replica (see the header). */
export function leaseTargets(
  replicas: readonly string[],
  held: ReadonlyMap<string, number>,
  total: number,
): Map<string, number> {
  const ranked = [...new Set(replicas)].sort(
    (a, b) => (held.get(b) ?? 0) - (held.get(a) ?? 0) || (a < b ? -1 : a > b ? 1 : 0),
  );
  const targets = new Map<string, number>();
  if (ranked.length === 0) return targets;
  const base = Math.floor(total / ranked.length);
  const extra = total % ranked.length;
  ranked.forEach((replica, i) => {
    targets.set(replica, base + (i < extra ? 1 : 0));
  });
  return targets;
}

/**
 * The planner's input in aggregate form: how many leases each live replica holds, which
 * sources are free, and this replica's own. The state database answers it without listing every
 * source ({@link planLeases} builds it from a list).
 */
export interface LeaseCounts {
  /** This replica's id. */
  readonly me: string;
  /** Live replicas (this one included when it is live). */
  readonly replicas: readonly string[];
  /** Leases held per live replica. */
  readonly held: ReadonlyMap<string, number>;
  /** Sources that should run and have no live owner. */
  readonly free: readonly SourceKey[];
  /** This replica's leases (their number is `held.get(me)`); read only when it holds too many. */
  readonly mine: () => readonly SourceKey[];
}

/** This replica's part of the balanced assignment (see the header), from a list of every source. */
export function planLeases(input: LeasePlanInput): LeasePlan {
  const live = new Set(input.replicas);
  const held = new Map<string, number>();
  const mine: SourceKey[] = [];
  const free: SourceKey[] = [];
  for (const source of input.sources) {
    const owner = source.liveOwner;
    if (owner === undefined) {
      free.push(keyOf(source));
    } else if (live.has(owner)) {
      held.set(owner, (held.get(owner) ?? 0) + 1);
      if (owner === input.me) mine.push(keyOf(source));
    }
    // A live lease of a replica that is no longer live is neither free nor anyone's to count:
    // it expires with that replica's last heartbeat.
  }
  return planFromCounts({ me: input.me, replicas: input.replicas, held, free, mine: () => mine });
}

/** This replica's part of the balanced assignment (see the header). */
export function planFromCounts(input: LeaseCounts): LeasePlan {
  const live = [...new Set(input.replicas)];
  const held = new Map([...input.held].filter(([replica]) => live.includes(replica)));
  const assignable = input.free.length + [...held.values()].reduce((a, b) => a + b, 0);
  const targets = leaseTargets(live, held, assignable);
  const target = targets.get(input.me);
  if (target === undefined) return { acquire: [], release: [], targets };
  const count = held.get(input.me) ?? 0;
  if (count > target) {
    const release = input
      .mine()
      .map((s) => ({ s, score: rendezvousScore(input.me, s) }))
      .sort((a, b) => (a.score < b.score ? -1 : a.score > b.score ? 1 : 0))
      .slice(0, count - target)
      .map(({ s }) => keyOf(s));
    return { acquire: [], release, targets };
  }
  if (count < target && input.free.length > 0) {
    return { acquire: dealFree(input.free, targets, held, input.me), release: [], targets };
  }
  return { acquire: [], release: [], targets };
}

/**
 * Deals the free sources to the replicas below their target, each source to the replica with
 * the highest rendezvous score that still has room, in key order. Every replica deals the same
 * way from the same view, so replicas acquiring at once ask for disjoint sources (no lost races,
 * no extra round) and between them take every free source. Returns this replica's part.
 */
function dealFree(
  free: readonly SourceKey[],
  targets: ReadonlyMap<string, number>,
  held: ReadonlyMap<string, number>,
  me: string,
): SourceKey[] {
  const room = new Map<string, number>();
  for (const [replica, target] of targets) {
    const r = target - (held.get(replica) ?? 0);
    if (r > 0) room.set(replica, r);
  }
  const mine: SourceKey[] = [];
  const ordered = [...free].sort((a, b) => compareKeys(a, b));
  for (const source of ordered) {
    const to = preferredReplica([...room.keys()], source);
    if (to === undefined) break;
    const left = (room.get(to) ?? 1) - 1;
    if (left > 0) room.set(to, left);
    else room.delete(to);
    if (to === me) mine.push(keyOf(source));
  }
  return mine;
}

function compareKeys(a: SourceKey, b: SourceKey): number {
  if (a.tenant !== b.tenant) return a.tenant < b.tenant ? -1 : 1;
  return a.sourceRef < b.sourceRef ? -1 : a.sourceRef > b.sourceRef ? 1 : 0;
}

function keyOf(source: SourceKey): SourceKey {
  return { tenant: source.tenant, sourceRef: source.sourceRef };
}
