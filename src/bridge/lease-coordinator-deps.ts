import type { LeaseStore, ReplicaIdentity } from "../domain/lease-store.js";
import type { CursorStore } from "../domain/ports.js";
import type { Logger } from "../logger.js";
import type { BridgeManager } from "./bridge-manager.js";
import type { LeaseMetrics } from "./lease-metrics.js";

/** Leases are renewed (with the heartbeat) every TTL times this. */
export const RENEW_FRACTION = 1 / 3;
/** Without a successful renewal sent within TTL times this, the replica stops its bridges. */
export const SELF_FENCE_FRACTION = 0.75;
/** Every this many ticks the database's list of this replica's leases is read even when the counts agree. */
export const OWNED_CHECK_EVERY = 10;
/** A source without a live owner for longer than the TTL plus this is reported as orphaned. */
export const ORPHAN_GRACE_MS = 5_000;

/** Dependencies of {@link LeaseCoordinator}. */
export interface LeaseCoordinatorDeps {
  readonly store: LeaseStore;
  /**
   * Where the bridges' fenced state writes go; default `store`. Kept apart so that thousands of
   * bridges changing state cannot delay a renewal.
   */
  readonly stateStore?: Pick<LeaseStore, "setStateFenced">;
  /** The shared cursor store the bridges commit through. */
  readonly cursors: CursorStore;
  /** Runs the bridges of the leases held here. */
  readonly manager: BridgeManager;
  readonly identity: ReplicaIdentity;
  /** Lease TTL (`PGSYNC_LEASE_TTL_MS`). */
  readonly ttlMs: number;
  readonly logger: Logger;
  readonly metrics: LeaseMetrics;
  /** Told whenever this replica starts or stops being able to hold leases. */
  readonly onServing: (serving: boolean) => void;
  /** Re-plan announcements from other replicas (LISTEN); optional. */
  readonly signal?: { connect(): Promise<void>; stop(): Promise<void> };
  /** Monotonic clock in ms (tests). Default performance.now. */
  readonly now?: () => number;
}

/**
 * The end of a graceful drain, once every bridge has stopped: releases every lease of this
 * replica and deletes its row (announced, so the others take the sources at once), then closes
 * the re-plan listener and the lease store. `released` is the number of leases held.
 */
export async function leaveCluster(deps: LeaseCoordinatorDeps, released: number): Promise<void> {
  try {
    await deps.store.leave(deps.identity);
    deps.metrics.handovers.inc({ reason: "shutdown" }, released);
  } catch (err) {
    deps.logger.warn({ err: { message: (err as Error).message } }, "could not release leases at shutdown");
  }
  deps.metrics.leasesHeld.set(0);
  await deps.signal?.stop();
  await deps.store.close?.().catch(() => {});
}

/** Logs a failed tick or heartbeat (the next one retries). */
export function logTickError(logger: Logger, err: unknown): void {
  logger.warn({ err: { message: (err as Error)?.message ?? String(err) } }, "lease tick failed");
}

/**
 * The coordinator's timers (unref'd): the heartbeat and the periodic tick every TTL/3, each on a
 * timer of its own (a slow re-plan, a large acquisition on a busy machine, must not hold back the
 * renewal of every lease), and the watchdog every TTL/10.
 */
export function leaseTimers(
  ttlMs: number,
  run: { readonly beat: () => void; readonly tick: () => void; readonly watchdog: () => void },
): NodeJS.Timeout[] {
  const renewEvery = Math.max(50, Math.floor(ttlMs * RENEW_FRACTION));
  const timers = [
    setInterval(run.beat, renewEvery),
    setInterval(run.tick, renewEvery),
    setInterval(run.watchdog, Math.max(20, Math.floor(ttlMs / 10))),
  ];
  for (const timer of timers) timer.unref();
  return timers;
}
