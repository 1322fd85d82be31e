-- Consumer groups: what an acknowledged wake costs in Postgres (issue 15, P11).
--
-- 1. A claim's write in one round trip. The claim still reads
-- optimistically outside any transaction and decides in the server; this function is its short
-- transaction: it locks the claimed group sources (in source order, so claims never deadlock),
-- checks their claim versions are still those the claim read, and only then moves them on,
-- dead-letters and marks the picks in flight for their owners. The server used to send BEGIN, the lock, the write and
-- COMMIT as four round trips, holding the rows locked (and the materializer's appends waiting)
-- across three of them. Every statement in here reads the latest committed state (READ
-- COMMITTED takes a snapshot per statement), as the separate statements did.
--
-- Returns one row with won = false when another claim came first (nothing written), else one
-- row per marked delivery with won = true: which delivery, its new attempt, its deadline in epoch
-- ms and its owner (or one row of nulls when only dead letters were written).
--
-- The picks come as jsonb maps, {source_ref: {first_seq: owner}} (dead letters: {source_ref:
-- {first_seq: true}}), looked up per row of the claimed sources: no plan can turn them into a
-- join whose cost grows with picks x rows. A generic plan of the previous form (an unnest of the
-- picks joined on source_ref and first_seq) scanned the picks once per row: 360,000 comparisons
-- and 160 ms for a claim of 600.
CREATE FUNCTION pgsync.claim_write(
  p_tenant text, p_group text, p_refs text[], p_versions bigint[],
  p_dead jsonb, p_ack_timeout_ms float8, p_marks jsonb)
RETURNS TABLE (
  won boolean, source_ref text, first_seq bigint, attempt integer, ack_deadline float8, member_id text)
LANGUAGE plpgsql AS $$
#variable_conflict use_column
DECLARE
  unchanged integer;
BEGIN
  PERFORM 1 FROM pgsync.consumer_group_sources s
    WHERE s.tenant = p_tenant AND s.group_name = p_group AND s.source_ref = ANY(p_refs)
    ORDER BY s.source_ref FOR UPDATE;
  SELECT count(*) INTO unchanged
    FROM pgsync.consumer_group_sources s JOIN unnest(p_refs, p_versions) AS x(ref, version)
      ON s.source_ref = x.ref AND s.claim_version = x.version
    WHERE s.tenant = p_tenant AND s.group_name = p_group AND s.source_ref = ANY(p_refs);
  IF unchanged <> cardinality(p_refs) THEN
    RETURN QUERY SELECT false, NULL::text, NULL::bigint, NULL::integer, NULL::float8, NULL::text;
    RETURN;
  END IF;
  UPDATE pgsync.consumer_group_sources s SET claim_version = s.claim_version + 1
    WHERE s.tenant = p_tenant AND s.group_name = p_group AND s.source_ref = ANY(p_refs);
  UPDATE pgsync.consumer_deliveries d SET state = 'dead', dead_at = now(), member_id = NULL,
      ack_deadline = NULL,
      last_error = CASE WHEN d.state = 'in_flight' THEN 'ack timeout'
                        ELSE coalesce(d.last_error, 'max deliveries reached') END
    WHERE d.tenant = p_tenant AND d.group_name = p_group AND d.source_ref = ANY(p_refs)
      AND (p_dead -> d.source_ref) ? d.first_seq::text;
  RETURN QUERY WITH marked AS (
    UPDATE pgsync.consumer_deliveries d SET state = 'in_flight', attempt = d.attempt + 1,
        member_id = (p_marks -> d.source_ref) ->> d.first_seq::text,
        ack_deadline = now() + make_interval(secs => p_ack_timeout_ms / 1000),
        last_error = CASE WHEN d.state = 'in_flight' THEN 'ack timeout' ELSE d.last_error END
      WHERE d.tenant = p_tenant AND d.group_name = p_group AND d.source_ref = ANY(p_refs)
        AND (p_marks -> d.source_ref) ? d.first_seq::text AND d.state <> 'dead'
      RETURNING d.source_ref, d.first_seq, d.attempt,
        (extract(epoch FROM d.ack_deadline) * 1000)::float8 AS ack_deadline, d.member_id)
    SELECT true, m.* FROM (SELECT 1) AS one LEFT JOIN marked m ON true;
END $$;


-- 2. Marking a delivery in flight changed the columns of the partial index on (tenant, group_name,
--    member_id) WHERE state = 'in_flight', so every mark (and every release) wrote a new row
--    version with a new entry in both indexes: about 10 buffers per claimed delivery. Without that
--    index, and with room left on each page for the new version (fillfactor 50; the table only
--    holds unfinished deliveries, so it stays small), the update is HOT: no index entry at all.
--    What the index served, a member's held count, is one grouped pass over the claimed sources'
--    active deliveries in the claim's read, which already scans them for its candidates.
DROP INDEX pgsync.consumer_deliveries_member;
ALTER TABLE pgsync.consumer_deliveries SET (fillfactor = 50);
