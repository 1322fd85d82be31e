import type pg from "pg";
import { TABLES } from "./constants.js";

/** Retention settings; 0 disables a bound. */
export interface RetentionPolicy {
  /** Entries older than this are deleted. */
  readonly maxAgeMs: number;
  /** At most this many entries are kept per source (the newest). */
  readonly maxChangesPerSource: number;
  /** Rows deleted per statement, so pruning never holds long locks. Default 10_000. */
  readonly batchSize?: number;
}

/**
 * Deletes log entries past retention, in bounded batches. The newest entry of a source is always
 * kept, so the log head (and the seq numbering) survives pruning; watchers asking for a pruned
 * position get a Gap. Returns the number of entries deleted.
 */
export async function pruneChangeLog(pool: pg.Pool, policy: RetentionPolicy): Promise<number> {
  if (policy.maxAgeMs <= 0 && policy.maxChangesPerSource <= 0) return 0;
  const batchSize = policy.batchSize ?? 10_000;
  let total = 0;
  for (;;) {
    const result = await pool.query(
      `DELETE FROM ${TABLES.changes} WHERE ctid IN (
         SELECT c.ctid FROM ${TABLES.changes} c
         JOIN ${TABLES.cursors} k ON k.tenant = c.tenant AND k.source_ref = c.source_ref
         WHERE c.seq < k.head_seq
           AND (($1::bigint > 0 AND c.created_at < now() - make_interval(secs => $1::bigint / 1000.0))
             OR ($2::bigint > 0 AND c.seq <= k.head_seq - $2::bigint))
         LIMIT $3)`,
      [policy.maxAgeMs, policy.maxChangesPerSource, batchSize],
    );
    const n = result.rowCount ?? 0;
    total += n;
    if (n < batchSize) return total;
  }
}
