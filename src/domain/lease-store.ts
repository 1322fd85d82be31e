import type { StoredCursor } from "./change-log.js";
import type { SourceKey } from "./lease-plan.js";
import type { SourceRecord, SourceState } from "./source.js";

/** A lease this replica holds: the source and the term it acquired (its fencing token). */
export interface HeldLease extends SourceKey {
  /** The lease term: the cursor generation bumped when the lease was acquired. */
  readonly term: bigint;
}

/** A lease just acquired, with what the bridge needs to run. */
export interface AcquiredLease {
  readonly record: SourceRecord;
  /** The committed cursor, its `generation` being the new term. */
  readonly cursor: StoredCursor;
}

/** Result of {@link LeaseStore.renew}. */
export interface RenewResult {
  /** False when this process no longer owns its replica row (it must join again). */
  readonly member: boolean;
  /** Held leases whose cursor row no longer has this owner at the term held (taken over, or the source deleted). */
  readonly lost: readonly SourceKey[];
}

/** The cluster as the state database sees it now, in aggregate (no list of every source). */
export interface ClusterView {
  /** Live replicas, ordered by id. */
  readonly replicas: readonly string[];
  /** Leases of sources that should run, per live replica. */
  readonly held: ReadonlyMap<string, number>;
  /** Sources that should run and have no live owner. */
  readonly free: readonly SourceKey[];
  /** Sources that should run but have had no live owner for longer than the grace asked for. */
  readonly orphaned: number;
}

/** Identity of one replica process. */
export interface ReplicaIdentity {
  /** `PGSYNC_REPLICA_ID`. */
  readonly replicaId: string;
  /** Unique per process start: two live processes cannot share a replica id. */
  readonly incarnation: string;
}

/**
 * Persistence of replicas and leases. Expiry is always computed by the database clock; the term
 * is the cursor's generation, so acquiring a lease fences every earlier holder's commits.
 */
export interface LeaseStore {
  /** Takes the replica row unless another live process holds the id; false when it does. */
  join(me: ReplicaIdentity, ttlMs: number): Promise<boolean>;
  /** Heartbeat (which renews every lease this replica holds) and the held leases still at their terms, in one statement. */
  renew(me: ReplicaIdentity, ttlMs: number, held: readonly HeldLease[]): Promise<RenewResult>;
  /** Live replicas, their lease counts and the free sources among those that should run. */
  view(orphanGraceMs: number): Promise<ClusterView>;
  /** The sources that should run whose lease this replica holds in the database. */
  owned(me: ReplicaIdentity): Promise<SourceKey[]>;
  /**
   * Acquires whichever of `keys` are free (no owner, an owner whose heartbeat expired, or this
   * replica), bumping their terms; a lease then lives as long as this replica's heartbeat.
   */
  acquire(me: ReplicaIdentity, keys: readonly SourceKey[]): Promise<AcquiredLease[]>;
  /** Releases leases at their terms and announces it, so another replica claims them at once. */
  release(me: ReplicaIdentity, leases: readonly HeldLease[]): Promise<number>;
  /** Releases every lease of this replica and removes its row (graceful shutdown). */
  leave(me: ReplicaIdentity): Promise<number>;
  /** Releases the store's own connections, if it has any; called last, after {@link LeaseStore.leave}. */
  close?(): Promise<void>;
  /** Asks for the source to run: FAILED or IDLE becomes STARTING, and replicas are told to look. */
  wake(key: SourceKey): Promise<void>;
  /** Persists a bridge state, only while `lease` is still held at its term. */
  setStateFenced(
    me: ReplicaIdentity,
    lease: HeldLease,
    state: SourceState,
    lastError: string | undefined,
  ): Promise<boolean>;
}
