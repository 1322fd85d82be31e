import type pg from "pg";
import { TABLES } from "./constants.js";

/** One source's log size. */
export interface SourceLogSize {
  readonly tenant: string;
  readonly sourceRef: string;
  /** Entries in the log (head − tail + 1, or 0). */
  readonly entries: number;
}

/** The changes table's size on disk with its indexes and TOAST, in bytes. */
export async function logBytes(pool: pg.Pool): Promise<number> {
  const { rows } = await pool.query<{ bytes: string }>(
    `SELECT pg_total_relation_size('${TABLES.changes}') AS bytes`,
  );
  return Number(rows[0]?.bytes ?? 0);
}

/**
 * Log sizes of the given sources, from each cursor's head and the log's first seq (one index
 * probe per source); sources without a cursor are left out.
 */
export async function logSizes(
  pool: pg.Pool,
  sources: readonly { readonly tenant: string; readonly sourceRef: string }[],
): Promise<SourceLogSize[]> {
  if (sources.length === 0) return [];
  const { rows } = await pool.query<{ tenant: string; source_ref: string; entries: string }>(
    `SELECT k.tenant, k.source_ref,
            CASE WHEN t.tail IS NULL THEN 0 ELSE k.head_seq - t.tail + 1 END AS entries
     FROM unnest($1::text[], $2::text[]) AS s(tenant, source_ref)
     JOIN ${TABLES.cursors} k ON k.tenant = s.tenant AND k.source_ref = s.source_ref
     CROSS JOIN LATERAL (
       SELECT min(c.seq) AS tail FROM ${TABLES.changes} c
       WHERE c.tenant = k.tenant AND c.source_ref = k.source_ref) t`,
    [sources.map((s) => s.tenant), sources.map((s) => s.sourceRef)],
  );
  return rows.map((r) => ({ tenant: r.tenant, sourceRef: r.source_ref, entries: Number(r.entries) }));
}
