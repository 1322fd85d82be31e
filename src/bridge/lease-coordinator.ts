import { planFromCounts, type SourceKey } from "../domain/lease-plan.js";
import type { HeldLease } from "../domain/lease-store.js";
import type { BridgeControl, CursorStore } from "../domain/ports.js";
import type { SourceRecord } from "../domain/source.js";
import { sourceKey } from "../domain/source-key.js";
import type { BridgeView } from "./bridge-manager.js";
import {
  type LeaseCoordinatorDeps,
  leaseTimers,
  leaveCluster,
  logTickError,
  ORPHAN_GRACE_MS,
  OWNED_CHECK_EVERY,
  RENEW_FRACTION,
  SELF_FENCE_FRACTION,
} from "./lease-coordinator-deps.js";
import { LeasedCursorStore } from "./leased-cursor-store.js";
import { plannerInput } from "./planner-input.js";

const keyOf = (k: SourceKey) => sourceKey(k.tenant, k.sourceRef);

/**
 * Decides which sources this replica runs. Every TTL/3 its heartbeat renews every lease it holds
 * and drops the bridges of leases it lost; every tick (TTL/3, or at once when another replica
 * announces a release) it hands over leases the balance plan gives to others and acquires the
 * free ones the plan gives to it. A replica that cannot renew stops its bridges before its
 * leases can expire elsewhere; a stale bridge's commits are refused by the term regardless.
 * It is the registry's {@link BridgeControl}: a source asked for here runs wherever its lease is.
 */
export class LeaseCoordinator implements BridgeControl {
  readonly #deps: LeaseCoordinatorDeps;
  readonly #now: () => number;
  readonly #held = new Map<string, { lease: HeldLease; store: CursorStore }>();
  #member = false;
  #serving: boolean | undefined;
  #lastRenewSentAt: number | undefined;
  #timers: NodeJS.Timeout[] = [];
  #running: Promise<void> | undefined;
  #again = false;
  #stopped = false;
  #orphaned = 0;
  #ticks = 0;
  #periodic = true;
  #beating: Promise<boolean> | undefined;
  /** Sources being deleted: a lease acquired for one meanwhile is released, never run. */
  readonly #removed = new Set<string>();

  constructor(deps: LeaseCoordinatorDeps) {
    this.#deps = deps;
    this.#now = deps.now ?? (() => performance.now());
  }

  /** Sources that should run but have had no live owner for longer than the TTL plus 5 s (last tick). */
  get orphaned(): number {
    return this.#orphaned;
  }

  /** False while this replica cannot renew its leases (state database unreachable, id in use). */
  get serving(): boolean {
    return this.#serving === true;
  }

  /** Joins the cluster, plans once, then keeps renewing and re-planning. Call after the listener is bound. */
  async start(): Promise<void> {
    await this.#deps.signal?.connect();
    await this.requestTick();
    this.#timers = leaseTimers(this.#deps.ttlMs, {
      beat: () => void this.#beat().catch((err: unknown) => logTickError(this.#deps.logger, err)),
      tick: () => {
        this.#periodic = true;
        void this.requestTick();
      },
      watchdog: () => this.#watchdog(),
    });
  }

  /** Runs a tick now, or once more after the running one; resolves when that tick is done. */
  requestTick(): Promise<void> {
    if (this.#stopped) return Promise.resolve();
    if (this.#running) {
      this.#again = true;
      return this.#running;
    }
    this.#running = (async () => {
      do {
        this.#again = false;
        await this.#tick().catch((err: unknown) => logTickError(this.#deps.logger, err));
      } while (this.#again && !this.#stopped);
    })().finally(() => {
      this.#running = undefined;
    });
    return this.#running;
  }

  /** Graceful drain: stops every bridge (in-flight batches commit), releases every lease, leaves. */
  async stop(): Promise<void> {
    if (this.#stopped) return;
    this.#stopped = true;
    for (const timer of this.#timers) clearInterval(timer);
    await this.#running;
    await this.#beating?.catch(() => {});
    const released = this.#held.size;
    this.#held.clear();
    await this.#deps.manager.stop();
    await leaveCluster(this.#deps, released);
  }

  /**
   * Runs the source here when this replica holds its lease, else asks the cluster to run it and
   * resolves after this replica's own re-plan (which acquires it when the balance gives it here).
   */
  async ensure(record: SourceRecord): Promise<void> {
    this.#removed.delete(keyOf(record));
    const held = this.#held.get(keyOf(record));
    if (held) {
      this.#deps.manager.ensure(record, held.store);
      return;
    }
    if (!this.#deps.manager.isRunning(record.tenant, record.sourceRef)) {
      // An ended (FAILED) bridge of a lease released earlier: it restarts wherever the lease goes.
      void this.#deps.manager.remove(record.tenant, record.sourceRef);
    }
    try {
      await this.#deps.store.wake(record);
      await this.requestTick();
    } catch (err) {
      this.#deps.logger.warn({ err: { message: (err as Error).message } }, "could not wake source");
    }
  }

  /** The in-memory view of the source's bridge when this replica runs it. */
  view(tenant: string, sourceRef: string): BridgeView | undefined {
    return this.#deps.manager.view(tenant, sourceRef);
  }

  /** Stops the source's bridge here (before the source is deleted). */
  async remove(tenant: string, sourceRef: string): Promise<void> {
    this.#removed.add(keyOf({ tenant, sourceRef }));
    await this.#running; // a tick acquiring it right now starts no bridge after this returns
    this.#held.delete(keyOf({ tenant, sourceRef }));
    this.#deps.metrics.leasesHeld.set(this.#held.size);
    await this.#deps.manager.remove(tenant, sourceRef);
  }

  /** A watcher holds the source (no idle stop here) and asks for it to run. */
  retain(record: SourceRecord): () => void {
    return this.#deps.manager.retain(record, (r) => void this.ensure(r));
  }

  /** Called by the manager when a bridge's commit was refused for a stale term. */
  onFenced(tenant: string, sourceRef: string): void {
    const { metrics, logger } = this.#deps;
    metrics.fencedCommits.inc();
    if (this.#held.delete(keyOf({ tenant, sourceRef }))) metrics.leasesLost.inc({ reason: "fenced" });
    metrics.leasesHeld.set(this.#held.size);
    logger.warn({ tenant, source_ref: sourceRef }, "commit refused: the lease term is stale; bridge dropped");
    void this.requestTick();
  }

  /** Heartbeat (joining first when needed), shared by concurrent callers; true when this replica holds its row. */
  #beat(): Promise<boolean> {
    this.#beating ??= this.#renew().finally(() => {
      this.#beating = undefined;
    });
    return this.#beating;
  }

  async #renew(): Promise<boolean> {
    const { store, identity, ttlMs } = this.#deps;
    if (!this.#member) {
      this.#member = await store.join(identity, ttlMs);
      if (!this.#member) {
        this.#setServing(false, `replica id ${identity.replicaId} is in use by another live process`);
        return false;
      }
    }
    const sentAt = this.#now();
    const before = this.#leases;
    const renewal = await store.renew(identity, ttlMs, before).catch((err: unknown) => {
      this.#setServing(false, `state database unreachable: ${(err as Error)?.message ?? String(err)}`);
      throw err;
    });
    if (!renewal.member) {
      this.#member = false;
      this.#drop(this.#leases, "taken", "this replica's row was taken over; dropping every lease");
      void this.requestTick();
      return false;
    }
    this.#lastRenewSentAt = sentAt;
    this.#setServing(true);
    // Lost since this renewal was sent: only the leases it sent (one acquired meanwhile stays).
    const gone = new Set(renewal.lost.map(keyOf));
    const lost = before.filter((l) => gone.has(keyOf(l)) && this.#held.get(keyOf(l))?.lease === l);
    this.#drop(lost, "taken", "lease lost (taken over or source deleted); bridges stop");
    return true;
  }

  async #tick(): Promise<void> {
    const { store, identity, ttlMs, metrics } = this.#deps;
    // Back-to-back ticks (registrations) renew only when the heartbeat's own timer is late.
    const last = this.#serving ? this.#lastRenewSentAt : undefined;
    const fresh = last !== undefined && this.#now() - last < ttlMs * RENEW_FRACTION;
    if (!fresh && !(await this.#beat())) return;
    // Per-lease scans run on the periodic ticks only: a tick runs for every registration.
    const periodic = this.#periodic;
    this.#periodic = false;
    if (periodic) await this.#handOver(this.#endedLeases(), "ended");
    if (this.#stopped) return;
    const view = await store.view(ttlMs + ORPHAN_GRACE_MS);
    metrics.liveReplicas.set(view.replicas.length);
    metrics.orphanedSources.set(view.orphaned);
    this.#orphaned = view.orphaned;
    const checkOwned = periodic && this.#ticks++ % OWNED_CHECK_EVERY === 0;
    const counts = await plannerInput(view, identity, this.#held, store, checkOwned);
    const plan = planFromCounts(counts);
    await this.#handOver(plan.release, "balance");
    if (!this.#stopped) await this.#acquire(plan.acquire);
  }

  async #handOver(keys: readonly SourceKey[], reason: "balance" | "ended"): Promise<void> {
    const leases = keys.flatMap((k) => this.#held.get(keyOf(k))?.lease ?? []);
    if (leases.length === 0) return;
    // The bridge finishes its in-flight batch before the lease goes.
    await Promise.all(
      leases.map((l) =>
        reason === "balance" ? this.#deps.manager.remove(l.tenant, l.sourceRef) : undefined,
      ),
    );
    const released = await this.#deps.store.release(this.#deps.identity, leases);
    for (const l of leases) this.#held.delete(keyOf(l));
    this.#deps.metrics.handovers.inc({ reason }, released);
    this.#deps.metrics.leasesHeld.set(this.#held.size);
    if (reason === "balance") this.#deps.logger.info({ released }, "leases handed over for balance");
  }

  async #acquire(keys: readonly SourceKey[]): Promise<void> {
    const { store, stateStore, identity, cursors, manager, metrics } = this.#deps;
    const acquired = await store.acquire(identity, keys);
    const unwanted: HeldLease[] = [];
    for (const { record, cursor } of acquired) {
      const lease: HeldLease = {
        tenant: record.tenant,
        sourceRef: record.sourceRef,
        term: cursor.generation,
      };
      if (this.#removed.has(keyOf(lease))) {
        unwanted.push(lease);
        continue;
      }
      const leased = new LeasedCursorStore(cursors, stateStore ?? store, identity, cursor, lease);
      this.#held.set(keyOf(lease), { lease, store: leased });
      manager.ensure(record, leased);
    }
    if (unwanted.length > 0) await store.release(identity, unwanted);
    metrics.leasesAcquired.inc(acquired.length);
    metrics.leasesHeld.set(this.#held.size);
    if (acquired.length > 0) this.#deps.logger.info({ acquired: acquired.length }, "leases acquired");
    // Lost races for some: another look soon, with the winners' leases then counted.
    if (acquired.length < keys.length) this.#again = true;
  }

  #endedLeases(): SourceKey[] {
    const running = (l: HeldLease) => this.#deps.manager.isRunning(l.tenant, l.sourceRef);
    return [...this.#held.values()].flatMap(({ lease }) => (running(lease) ? [] : [lease]));
  }

  /** Stops every bridge before the leases can expire elsewhere when renewals keep failing. */
  #watchdog(): void {
    const sent = this.#lastRenewSentAt;
    if (sent === undefined || this.#held.size === 0) return;
    if (this.#now() - sent <= this.#deps.ttlMs * SELF_FENCE_FRACTION) return;
    this.#setServing(false, "leases could not be renewed in time");
    this.#drop(this.#leases, "unreachable", "leases could not be renewed in time; stopping every bridge");
  }

  get #leases(): HeldLease[] {
    return [...this.#held.values()].map((h) => h.lease);
  }

  /** Forgets `leases` (lost without a release) and stops their bridges. */
  #drop(leases: readonly HeldLease[], reason: string, message: string): void {
    if (leases.length === 0) return;
    for (const l of leases) this.#held.delete(keyOf(l));
    const sample = leases.slice(0, 10).map((l) => ({ tenant: l.tenant, source_ref: l.sourceRef }));
    this.#deps.logger.warn({ leases: leases.length, sample }, message);
    this.#deps.metrics.leasesLost.inc({ reason }, leases.length);
    this.#deps.metrics.leasesHeld.set(this.#held.size);
    for (const l of leases) void this.#deps.manager.remove(l.tenant, l.sourceRef);
  }

  #setServing(serving: boolean, why?: string): void {
    if (this.#serving === serving) return;
    this.#serving = serving;
    if (serving) this.#deps.logger.info("replica can hold leases");
    else this.#deps.logger.warn({ reason: why }, "replica cannot hold leases (NOT_SERVING)");
    this.#deps.onServing(serving);
  }
}
