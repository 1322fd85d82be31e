import type pg from "pg";
import { TABLES } from "./constants.js";

/** Retention settings; 0 disables a bound. */
export interface RetentionPolicy {
  /** Entries older than this are deleted. */
  readonly maxAgeMs: number;
  /** At most this many entries are kept per source (the newest). */
  readonly maxChangesPerSource: number;
  /** Most rows deleted per source per statement, so pruning never holds long locks. Default 10_000. */
  readonly batchSize?: number;
}

/**
 * One pass: for every source, the first seq to keep (by count and by age, whichever keeps less),
 * never past the head, and never more than `$3` entries above the current tail; then the range
 * below it is deleted through the primary key. The age bound walks the log from its tail in seq
 * order and stops at the first entry young enough, so a pass reads what it deletes plus one row
 * per source, however long the logs are. The rows are collected per source by a primary-key range
 * (`ORDER BY seq LIMIT`, which only an index scan answers cheaply) and deleted by their row ids
 * (a TID scan): a join of the doomed ranges against the log could be planned as a hash join over
 * a scan of the whole log, and was, on a 1 M-change log (bench/scenarios/retention.ts).
 */
const PRUNE_SQL = `
WITH bounds AS (
  SELECT k.tenant, k.source_ref, k.head_seq, t.tail_seq,
         GREATEST(
           CASE WHEN $2::bigint > 0 THEN k.head_seq - $2::bigint + 1 ELSE 0 END,
           CASE WHEN $1::bigint > 0 THEN COALESCE(
             (SELECT c.seq FROM ${TABLES.changes} c
               WHERE c.tenant = k.tenant AND c.source_ref = k.source_ref
                 AND c.created_at >= now() - make_interval(secs => $1::bigint / 1000.0)
               ORDER BY c.seq LIMIT 1),
             k.head_seq) ELSE 0 END
         ) AS keep_from
  FROM ${TABLES.cursors} k
  CROSS JOIN LATERAL (
    SELECT min(c.seq) AS tail_seq FROM ${TABLES.changes} c
    WHERE c.tenant = k.tenant AND c.source_ref = k.source_ref) t
  WHERE t.tail_seq IS NOT NULL
), doomed AS (
  SELECT tenant, source_ref, tail_seq, LEAST(keep_from, head_seq, tail_seq + $3::bigint) AS below
  FROM bounds WHERE LEAST(keep_from, head_seq) > tail_seq
)
DELETE FROM ${TABLES.changes} WHERE ctid = ANY (ARRAY(
  SELECT r.ctid FROM doomed d CROSS JOIN LATERAL (
    SELECT c.ctid FROM ${TABLES.changes} c
    WHERE c.tenant = d.tenant AND c.source_ref = d.source_ref AND c.seq >= d.tail_seq AND c.seq < d.below
    ORDER BY c.seq LIMIT $3::bigint) r))`;

/** The statement of one pruning pass (`$1` max age ms, `$2` max changes per source, `$3` batch size), for plans and benchmarks. */
export function pruneStatement(): string {
  return PRUNE_SQL;
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
    const result = await pool.query(PRUNE_SQL, [policy.maxAgeMs, policy.maxChangesPerSource, batchSize]);
    const n = result.rowCount ?? 0;
    total += n;
    if (n === 0) return total;
  }
}
