import pg from "pg";
import type { Logger } from "../logger.js";

/** Options of {@link createPool}. */
export interface PoolOptions {
  /** Connection URL. */
  readonly connectionString: string;
  /** Maximum connections. */
  readonly max: number;
  /** `application_name` reported to Postgres. */
  readonly applicationName?: string;
}

/**
 * A pg pool whose idle-client errors are logged instead of crashing the process (a restarted
 * database must not take pg-sync down).
 */
export function createPool(options: PoolOptions, logger: Logger): pg.Pool {
  const pool = new pg.Pool({
    connectionString: options.connectionString,
    max: options.max,
    application_name: options.applicationName ?? "pg-sync",
    connectionTimeoutMillis: 10_000,
    idleTimeoutMillis: 30_000,
  });
  pool.on("error", (err) => {
    logger.warn(
      { err: { message: err.message, code: (err as { code?: string }).code } },
      "idle state database client failed",
    );
  });
  return pool;
}
