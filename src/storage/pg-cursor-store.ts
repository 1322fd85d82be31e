import type pg from "pg";
import type { BatchCommit, CommitResult, LogMode, StoredCursor } from "../domain/change-log.js";
import { FencedError } from "../domain/errors.js";
import type { CursorStore } from "../domain/ports.js";
import type { SourceState } from "../domain/source.js";
import { CHANGES_CHANNEL, SCHEMA, SOURCES_CHANNEL, TABLES } from "./constants.js";

interface CursorRow {
  shape_handle: string | null;
  shape_offset: string | null;
  log_mode: LogMode;
  head_seq: string;
  tail_seq: string | null;
  generation: string;
  up_to_date_at: Date | null;
  updated_at: Date;
  // replicas (issue 13): the lease columns
  owner: string | null;
  lease_expires_at: Date | null;
  lease_live: boolean | null;
}

const CURSOR_COLUMNS = `shape_handle, shape_offset, log_mode, head_seq, generation, up_to_date_at, updated_at,
  owner, lease_expires_at, (lease_expires_at > now()) AS lease_live,
  (SELECT min(seq) FROM ${TABLES.changes} c WHERE c.tenant = k.tenant AND c.source_ref = k.source_ref) AS tail_seq`;

function toCursor(row: CursorRow): StoredCursor {
  return {
    shapeHandle: row.shape_handle ?? undefined,
    shapeOffset: row.shape_offset ?? undefined,
    logMode: row.log_mode,
    headSeq: BigInt(row.head_seq),
    tailSeq: BigInt(row.tail_seq ?? 0),
    generation: BigInt(row.generation),
    upToDateAt: row.up_to_date_at ?? undefined,
    updatedAt: row.updated_at,
    owner: row.owner ?? undefined,
    leaseExpiresAt: row.lease_expires_at ?? undefined,
    leaseLive: row.lease_live === true,
  };
}

/**
 * The whole batch commit is one statement (so one round trip and one implicit transaction): it
 * locks the cursor row at the caller's generation, drops changes that are already logged (a batch
 * re-read cannot be logged twice), numbers the rest gap-free after the head, inserts them,
 * advances the cursor, and NOTIFYs watchers when anything was appended. A stale generation
 * matches no cursor row, so nothing is written.
 *
 * Duplicates are found without reading the log: Electric offsets are ordered within a shape
 * handle, so a change of the cursor's handle at or before the committed offset was logged by an
 * earlier commit. Offsets of different handles are not ordered against each other, so the unique
 * offset index is still probed, per row, for a batch that changes the handle (must-refetch, `$8`)
 * and for snapshot rows (offset `<end>#<index>`, full log mode only), as before. For every other
 * row the probe's gating condition is false and the index is not touched, whatever the plan. The
 * unique index stays as the safety net: a duplicate that got through would fail the commit, never
 * be logged twice.
 */
const COMMIT_SQL = `
WITH cur AS (
  SELECT head_seq, shape_handle, ${SCHEMA}.offset_key(shape_offset) AS committed FROM ${TABLES.cursors}
  WHERE tenant = $1 AND source_ref = $2 AND generation = $3
  FOR UPDATE
), input AS (
  SELECT * FROM jsonb_to_recordset($4::jsonb) AS x(
    ord int, kind text, shape_offset text, operation text, key text,
    value jsonb, old_value jsonb, txids bigint[], gap jsonb)
), fresh AS (
  SELECT i.*, cur.head_seq FROM input i CROSS JOIN cur
  LEFT JOIN LATERAL (
    SELECT 1 AS hit FROM ${TABLES.changes} c
    WHERE ($8::boolean OR strpos(i.shape_offset, '#') > 0) AND c.tenant = $1 AND c.source_ref = $2 AND c.kind = 'change'
      AND c.shape_offset = i.shape_offset
    LIMIT 1) dup ON true
  WHERE i.kind = 'gap' OR (dup.hit IS NULL AND (
    cur.shape_handle IS DISTINCT FROM $5 OR cur.committed IS NULL
    OR ${SCHEMA}.offset_key(i.shape_offset) IS NULL
    OR ${SCHEMA}.offset_key(i.shape_offset) > cur.committed))
), numbered AS (
  SELECT f.*, f.head_seq + row_number() OVER (ORDER BY f.ord) AS seq FROM fresh f
), ins AS (
  INSERT INTO ${TABLES.changes}
    (tenant, source_ref, seq, kind, shape_offset, operation, key, value, old_value, txids, gap)
  SELECT $1, $2, seq, kind, shape_offset, operation, key, value, old_value, txids, gap FROM numbered
  RETURNING seq
), upd AS (
  UPDATE ${TABLES.cursors} SET
    shape_handle = $5, shape_offset = $6,
    head_seq = head_seq + (SELECT count(*) FROM numbered),
    up_to_date_at = CASE WHEN $7 THEN now() ELSE up_to_date_at END,
    updated_at = now()
  WHERE tenant = $1 AND source_ref = $2 AND generation = $3
  RETURNING head_seq
), notified AS (
  SELECT pg_notify('${CHANGES_CHANNEL}', json_build_object('t', $1::text, 'r', $2::text, 'h', upd.head_seq)::text)
  FROM upd WHERE (SELECT count(*) FROM ins) > 0
)
SELECT (SELECT head_seq FROM upd) AS head_seq,
       (SELECT count(*) FROM ins) AS appended,
       (SELECT count(*) FROM notified) AS notified`;

/**
 * The one statement that commits an Electric batch: its changes (and gap) appended with gap-free
 * seqs, the cursor advanced and watchers notified, or nothing when the generation is stale.
 * Not a named (prepared) statement: planned per call (about 0.4 ms), its plan never depends on a
 * generic estimate.
 */
export function commitStatement(batch: BatchCommit): pg.QueryConfig {
  const entries: Record<string, unknown>[] = [];
  if (batch.gap) {
    entries.push({
      ord: 0,
      kind: "gap",
      gap: {
        reason: batch.gap.reason,
        detail: batch.gap.detail,
        last_good_offset: batch.gap.lastGoodOffset ?? null,
        new_handle: batch.gap.newHandle ?? null,
      },
    });
  }
  batch.changes.forEach((c, i) => {
    entries.push({
      ord: i + 1,
      kind: "change",
      shape_offset: c.offset,
      operation: c.operation,
      key: c.key,
      value: c.value,
      old_value: c.oldValue ?? null,
      txids: c.txids,
    });
  });
  return {
    text: COMMIT_SQL,
    values: [
      batch.tenant,
      batch.sourceRef,
      batch.generation.toString(),
      JSON.stringify(entries),
      batch.shapeHandle,
      batch.shapeOffset,
      batch.upToDate,
      batch.gap !== undefined,
    ],
  };
}

/** {@link CursorStore} over `pgsync.cursors` and `pgsync.changes`. */
export class PgCursorStore implements CursorStore {
  readonly #pool: pg.Pool;

  constructor(pool: pg.Pool) {
    this.#pool = pool;
  }

  async claim(tenant: string, sourceRef: string, owner: string): Promise<StoredCursor | undefined> {
    const { rows } = await this.#pool.query<CursorRow>(
      `UPDATE ${TABLES.cursors} k SET generation = generation + 1, owner = $3, updated_at = now()
       WHERE tenant = $1 AND source_ref = $2 RETURNING ${CURSOR_COLUMNS}`,
      [tenant, sourceRef, owner],
    );
    return rows[0] ? toCursor(rows[0]) : undefined;
  }

  async get(tenant: string, sourceRef: string): Promise<StoredCursor | undefined> {
    const { rows } = await this.#pool.query<CursorRow>(
      `SELECT ${CURSOR_COLUMNS} FROM ${TABLES.cursors} k WHERE tenant = $1 AND source_ref = $2`,
      [tenant, sourceRef],
    );
    return rows[0] ? toCursor(rows[0]) : undefined;
  }

  async commit(batch: BatchCommit): Promise<CommitResult> {
    const { rows } = await this.#pool.query<{ head_seq: string | null; appended: string }>(
      commitStatement(batch),
    );
    const row = rows[0];
    if (!row || row.head_seq === null) throw new FencedError(batch.sourceRef, batch.generation);
    return { headSeq: BigInt(row.head_seq), appended: Number(row.appended) };
  }

  async setState(
    tenant: string,
    sourceRef: string,
    state: SourceState,
    lastError: string | undefined,
  ): Promise<void> {
    await this.#pool.query(
      `WITH u AS (
         UPDATE ${TABLES.sources} SET state = $3, last_error = $4, updated_at = now()
         WHERE tenant = $1 AND source_ref = $2 RETURNING 1)
       SELECT pg_notify('${SOURCES_CHANNEL}', json_build_object('t', $1::text, 'r', $2::text, 's', $3::text)::text)
       FROM u`,
      [tenant, sourceRef, state, lastError ?? null],
    );
  }
}
