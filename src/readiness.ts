import type pg from "pg";
import { type HealthRegistry, ServingStatus } from "./transport/health.js";

/** Service names reported by grpc.health.v1. */
export const HEALTH_SERVICES = {
  overall: "",
  api: "pgsync.v1.PgSyncService",
  /** NOT_SERVING when the state database is unreachable or every bridge is failing. */
  bridges: "pgsync.bridges",
  /** NOT_SERVING when this replica cannot hold leases, or a source has had no owner past TTL + 5 s. */
  leases: "pgsync.leases",
} as const;

/** What readiness looks at besides the state database. */
export interface ReadinessSources {
  /** Bridges running here, counted by state. */
  readonly bridges: { counts(): ReadonlyMap<string, number> };
  /** This replica's leases. */
  readonly leases: { readonly serving: boolean; readonly orphaned: number };
}

/**
 * Sets readiness: the state database answers and this replica can hold leases (one that cannot
 * renew them has stopped its bridges), not every bridge is failing, and no source is orphaned.
 */
export async function checkHealth(
  pool: pg.Pool,
  domain: ReadinessSources,
  health: HealthRegistry,
): Promise<void> {
  const { bridges, leases } = domain;
  const dbOk = await pool.query("SELECT 1").then(
    () => true,
    () => false,
  );
  const ready = dbOk && leases.serving;
  const counts = bridges.counts();
  const total = [...counts.values()].reduce((a, b) => a + b, 0);
  const failing = counts.get("FAILED") ?? 0;
  const status = (ok: boolean) => (ok ? ServingStatus.SERVING : ServingStatus.NOT_SERVING);
  health.set(HEALTH_SERVICES.bridges, status(ready && (total === 0 || failing < total)));
  health.set(HEALTH_SERVICES.leases, status(ready && leases.orphaned === 0));
  health.set(HEALTH_SERVICES.api, status(ready));
  health.set(HEALTH_SERVICES.overall, status(ready));
}
