import type { BatchCommit, CommitResult, StoredCursor } from "../domain/change-log.js";
import type { HeldLease, LeaseStore, ReplicaIdentity } from "../domain/lease-store.js";
import type { CursorStore } from "../domain/ports.js";
import type { SourceState } from "../domain/source.js";

/**
 * The cursor store one bridge sees while it runs under a lease: `claim` returns the cursor the
 * lease was acquired with (the acquisition already bumped the term), commits go to the shared
 * store with that term as their generation (so a stale one writes nothing), and state writes
 * are fenced by the same term, so a bridge stopped after losing its lease cannot overwrite the
 * new owner's state.
 */
export class LeasedCursorStore implements CursorStore {
  readonly #inner: CursorStore;
  readonly #leases: Pick<LeaseStore, "setStateFenced">;
  readonly #me: ReplicaIdentity;
  readonly #lease: HeldLease;
  #acquired: StoredCursor | undefined;

  constructor(
    inner: CursorStore,
    leases: Pick<LeaseStore, "setStateFenced">,
    me: ReplicaIdentity,
    acquired: StoredCursor,
    lease: HeldLease,
  ) {
    this.#inner = inner;
    this.#leases = leases;
    this.#me = me;
    this.#acquired = acquired;
    this.#lease = lease;
  }

  async claim(tenant: string, sourceRef: string): Promise<StoredCursor | undefined> {
    if (tenant !== this.#lease.tenant || sourceRef !== this.#lease.sourceRef) return undefined;
    // The acquisition's cursor once; a bridge started again under the same lease reads it fresh.
    const acquired = this.#acquired;
    this.#acquired = undefined;
    return acquired ?? this.#inner.get(tenant, sourceRef);
  }

  get(tenant: string, sourceRef: string): Promise<StoredCursor | undefined> {
    return this.#inner.get(tenant, sourceRef);
  }

  commit(batch: BatchCommit): Promise<CommitResult> {
    return this.#inner.commit(batch);
  }

  async setState(
    tenant: string,
    sourceRef: string,
    state: SourceState,
    lastError: string | undefined,
  ): Promise<void> {
    if (tenant !== this.#lease.tenant || sourceRef !== this.#lease.sourceRef) return;
    await this.#leases.setStateFenced(this.#me, this.#lease, state, lastError);
  }
}
