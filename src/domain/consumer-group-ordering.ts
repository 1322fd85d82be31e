import type { DeliveryView, Ordering } from "./consumer-group.js";

/**
 * Which deliveries a claim may hand out. A delivery is
 *
 * ```
 *   active   in flight, deadline not passed      (held by a member)
 *   waiting  pending, or in flight past deadline (back with the group)
 *   ready    waiting, and its retry time passed  (may be handed out now)
 *   dead     dead-lettered                       (blocks nothing)
 * ```
 *
 * Ordering rules, per source, in log order:
 * - `source`: a ready delivery is claimable when it is the oldest waiting one of its source and
 *   the source has no active delivery (at most one unacknowledged delivery per source);
 * - `key`: as `source`, but only deliveries sharing a row key block each other;
 * - `none`: every ready delivery is claimable.
 * A claimable delivery that already had `maxDeliveries` attempts is dead-lettered instead.
 */
export interface ClaimPolicy {
  readonly ordering: Ordering;
  readonly maxDeliveries: number;
  /** Deliveries the member may still take. */
  readonly room: number;
  readonly now: Date;
}

/** What a claim does. */
export interface ClaimSelection<T extends DeliveryView> {
  /** Hand these to the member (at most `room`), in log order per source. */
  readonly claim: readonly T[];
  /** Dead-letter these. */
  readonly deadLetter: readonly T[];
  /** Earliest retry time or ack deadline after `now` (when more may become claimable). */
  readonly nextAt: Date | undefined;
}

/** True when the delivery is held by a member and its deadline has not passed. */
export function isActive(d: DeliveryView, now: Date): boolean {
  return d.state === "in_flight" && d.ackDeadline !== undefined && d.ackDeadline > now;
}

function isWaiting(d: DeliveryView, now: Date): boolean {
  return d.state === "pending" || (d.state === "in_flight" && !isActive(d, now));
}

function isReady(d: DeliveryView, now: Date): boolean {
  return isWaiting(d, now) && (d.state !== "pending" || d.availableAt <= now);
}

/** Keys that block each other under the ordering (one shared key for `source`). */
function blockingKeys(d: DeliveryView, ordering: Ordering): readonly string[] {
  return ordering === "source" ? [""] : d.keys;
}

/**
 * Selects what a claim hands out and dead-letters, from the unfinished deliveries of the claimed
 * sources (any order; dead ones are ignored). Pure.
 */
export function selectClaims<T extends DeliveryView>(
  rows: readonly T[],
  policy: ClaimPolicy,
): ClaimSelection<T> {
  const { ordering, now, maxDeliveries } = policy;
  const sorted = [...rows].sort((a, b) =>
    a.sourceRef === b.sourceRef ? Number(a.firstSeq - b.firstSeq) : a.sourceRef < b.sourceRef ? -1 : 1,
  );
  const blocked = new Map<string, Set<string>>();
  const blockedOf = (ref: string) => {
    const set = blocked.get(ref) ?? new Set<string>();
    blocked.set(ref, set);
    return set;
  };
  let nextAt: Date | undefined;
  const later = (t: Date | undefined) => {
    if (t && t > now && (!nextAt || t < nextAt)) nextAt = t;
  };
  if (ordering !== "none") {
    for (const d of sorted) {
      if (isActive(d, now)) for (const k of blockingKeys(d, ordering)) blockedOf(d.sourceRef).add(k);
    }
  }
  const claim: T[] = [];
  const deadLetter: T[] = [];
  for (const d of sorted) {
    if (d.state === "dead") continue;
    if (isActive(d, now)) {
      later(d.ackDeadline);
      continue;
    }
    if (d.state === "pending") later(d.availableAt);
    const keys = ordering === "none" ? [] : blockingKeys(d, ordering);
    const set = blockedOf(d.sourceRef);
    const free = keys.every((k) => !set.has(k));
    for (const k of keys) set.add(k);
    if (!free || !isReady(d, now)) continue;
    if (d.attempt >= maxDeliveries) deadLetter.push(d);
    else if (claim.length < policy.room) claim.push(d);
  }
  return { claim, deadLetter, nextAt };
}

/**
 * The invariant the rules keep, for tests: among the active deliveries, no two of one source
 * (`source`) or sharing a key of one source (`key`). Returns the first violating pair, if any.
 */
export function findOrderingViolation<T extends DeliveryView>(
  active: readonly T[],
  ordering: Ordering,
): [T, T] | undefined {
  if (ordering === "none") return undefined;
  const seen = new Map<string, T>();
  for (const d of active) {
    for (const k of new Set(blockingKeys(d, ordering))) {
      const id = `${d.sourceRef}\u0000${k}`;
      const other = seen.get(id);
      if (other) return [other, d];
      seen.set(id, d);
    }
  }
  return undefined;
}
