import { randomBytes, randomUUID } from "node:crypto";
import { hostname } from "node:os";
import type pg from "pg";
import type { BridgeManager } from "./bridge/bridge-manager.js";
import { LeaseCoordinator } from "./bridge/lease-coordinator.js";
import { createLeaseMetrics } from "./bridge/lease-metrics.js";
import type { Config } from "./config.js";
import type { CursorStore } from "./domain/ports.js";
import type { Logger } from "./logger.js";
import type { Metrics } from "./metrics.js";
import { PgLeaseSignal } from "./storage/pg-lease-signal.js";
import { PgLeaseStore } from "./storage/pg-lease-store.js";
import { createPool } from "./storage/pool.js";

/** Connections of the lease store's own pool (renewal, plan, acquire and release run one at a time). */
const LEASE_POOL_SIZE = 2;

/**
 * This process's replica id: the override (tests), else `PGSYNC_REPLICA_ID`, else the host
 * name, process id and a random suffix (unique per process start).
 */
export function replicaIdFor(config: Config, override: string | undefined): string {
  return override ?? config.replicaId ?? `${hostname()}-${process.pid}-${randomBytes(3).toString("hex")}`;
}

/** What {@link createLeaseCoordinator} wires together. */
export interface LeaseWiring {
  readonly config: Config;
  readonly pool: pg.Pool;
  readonly logger: Logger;
  readonly metrics: Metrics;
  /** The shared cursor store the bridges commit through. */
  readonly cursors: CursorStore;
  /** Runs the bridges of the leases held here. */
  readonly bridges: BridgeManager;
  /** This replica's id (see {@link replicaIdFor}). */
  readonly owner: string;
  /** Told whenever this replica starts or stops being able to hold leases. */
  readonly onServing: () => void;
}

/**
 * The lease coordinator of this replica over the state database: leases in `pgsync.cursors`,
 * membership in `pgsync.replicas`, and a LISTEN connection that re-plans at once when another
 * replica releases leases.
 */
export function createLeaseCoordinator(wiring: LeaseWiring): LeaseCoordinator {
  const { config, pool, logger, metrics, cursors, bridges, owner, onServing } = wiring;
  const log = logger.child({ component: "leases", replica_id: owner });
  // Renewals get connections of their own: a burst of bridge starts (a restart with thousands of
  // sources) can hold every connection of the shared pool for longer than a renewal may wait,
  // and a late renewal makes the watchdog stop every bridge, which starts them all again.
  const leasePool = createPool(
    { connectionString: config.databaseUrl, max: LEASE_POOL_SIZE, applicationName: "pg-sync-leases" },
    log,
  );
  const leases: LeaseCoordinator = new LeaseCoordinator({
    store: new PgLeaseStore(leasePool, { ownsPool: true }),
    stateStore: new PgLeaseStore(pool),
    cursors,
    manager: bridges,
    identity: { replicaId: owner, incarnation: randomUUID() },
    ttlMs: config.leaseTtlMs,
    logger: log,
    metrics: createLeaseMetrics(metrics.registry),
    onServing,
    signal: new PgLeaseSignal(config.databaseUrl, log, () => void leases.requestTick()),
  });
  return leases;
}
