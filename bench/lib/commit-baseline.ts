/**
 * The batch commit statement as it was before issue 17's storage changes (one JSON document of
 * records, `jsonb_to_recordset`), kept only as the same-run baseline of the `commit` bench group.
 * It runs on a schema migrated up to 002 (foreign key changes → sources, created_at index).
 */
import type pg from "pg";
import type { BatchCommit } from "../../src/domain/change-log.js";
import { CHANGES_CHANNEL, SCHEMA, TABLES } from "../../src/storage/constants.js";

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

/** The baseline statement for `batch`. */
export function baselineCommitStatement(batch: BatchCommit): pg.QueryConfig {
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
