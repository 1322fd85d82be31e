import type pg from "pg";
import { type DeliveryId, parseDeliveryId, type SettleStatus } from "../domain/consumer-group.js";
import { ConsumerGroupNotFoundError } from "../domain/errors.js";
import { GROUP_TABLES as T } from "./constants.js";

/** A pool (one statement, one transaction) or a client inside a transaction. */
type Queryable = Pick<pg.Pool, "query">;

/** A request id, parsed, with its index in the request. */
type ParsedId = DeliveryId & { readonly i: number };

/** The well-formed ids of a request, parsed once (a malformed id stays unknown). */
function parseIds(ids: readonly string[]): ParsedId[] {
  const parsed: ParsedId[] = [];
  ids.forEach((id, i) => {
    const p = parseDeliveryId(id);
    if (p) parsed.push({ ...p, i });
  });
  return parsed;
}

/** Parsed ids as parallel arrays for `unnest` ($3..$8 of {@link REQ}). */
function idArrays(parsed: readonly ParsedId[]): unknown[][] {
  return [
    parsed.map((p) => p.sourceRef),
    parsed.map((p) => p.firstSeq.toString()),
    parsed.map((p) => p.lastSeq.toString()),
    parsed.map((p) => p.attempt),
    parsed.map((p) => p.incarnation),
    parsed.map((p) => p.i),
  ];
}

/** The lowest and highest first seq the ids name, as text ("0" for none). */
function firstSeqRange(parsed: readonly ParsedId[]): [string, string] {
  let low = parsed[0]?.firstSeq ?? 0n;
  let high = low;
  for (const p of parsed) {
    if (p.firstSeq < low) low = p.firstSeq;
    if (p.firstSeq > high) high = p.firstSeq;
  }
  return [low.toString(), high.toString()];
}

/** The request ids as a relation `r(source_ref, first_seq, last_seq, attempt, incarnation, i)` ($3..$8). */
const REQ = `unnest($3::text[], $4::bigint[], $5::bigint[], $6::int[], $7::bigint[], $8::int[])
  AS r(source_ref, first_seq, last_seq, attempt, incarnation, i)`;

/**
 * Matches a delivery row (d) and its group source (s) to a request id (r). The `= ANY` terms
 * repeat the join on the primary key's columns so that every plan, generic ones included, probes
 * the index for exactly the requested rows: with the join alone, a plan built on the stale
 * estimates of this fast-churning table scanned all of a group's deliveries once per id.
 */
const MATCH = `d.tenant = $1 AND d.group_name = $2 AND d.source_ref = ANY($3::text[]) AND d.first_seq = ANY($4::bigint[])
  AND d.source_ref = r.source_ref AND d.first_seq = r.first_seq
  AND d.last_seq = r.last_seq AND d.attempt = r.attempt
  AND s.tenant = d.tenant AND s.group_name = d.group_name AND s.source_ref = d.source_ref
  AND s.incarnation = r.incarnation`;

async function requireGroup(c: pg.PoolClient, tenant: string, group: string): Promise<number> {
  const { rows } = await c.query<{ max_deliveries: number }>(
    `SELECT max_deliveries FROM ${T.groups} WHERE tenant = $1 AND group_name = $2 FOR SHARE`,
    [tenant, group],
  );
  if (!rows[0]) throw new ConsumerGroupNotFoundError(group);
  return rows[0].max_deliveries;
}

/**
 * Statuses of the ids the settling statement did not match: another attempt is current (stale),
 * the delivery is gone although the group delivered past it (already acknowledged), or unknown.
 */
async function classifyRest(
  c: Queryable,
  tenant: string,
  group: string,
  parsed: readonly ParsedId[],
  statuses: SettleStatus[],
): Promise<void> {
  if (!statuses.includes("unknown")) return;
  const values = idArrays(parsed);
  const { rows } = await c.query<{ i: number; state: string | null; delivered: boolean }>(
    `SELECT r.i, d.state, (s.delivered_seq >= r.last_seq) AS delivered
     FROM ${REQ}
     LEFT JOIN ${T.sources} s ON s.tenant = $1 AND s.group_name = $2 AND s.source_ref = r.source_ref
       AND s.incarnation = r.incarnation
     LEFT JOIN ${T.deliveries} d ON d.tenant = $1 AND d.group_name = $2 AND d.source_ref = r.source_ref
       AND d.first_seq = r.first_seq AND d.last_seq = r.last_seq AND s.source_ref IS NOT NULL`,
    [tenant, group, ...values],
  );
  for (const row of rows) {
    if (statuses[row.i] !== "unknown") continue;
    if (row.state !== null) statuses[row.i] = "stale";
    else if (row.delivered) statuses[row.i] = "already-acknowledged";
  }
}

/**
 * The acknowledged ids as `{source_ref: {first_seq: ["last_seq.attempt.incarnation", ...]}}`: the
 * ack statement looks each candidate row up in it (a hash lookup, where matching against the
 * id list row by row cost a statement of n ids n² comparisons), and the keys of every id in
 * request order (to map the deleted rows back to the ids).
 */
function ackLookup(parsed: readonly ParsedId[]) {
  const lookup: Record<string, Record<string, string[]>> = {};
  const keys = new Map<string, number>();
  for (const p of parsed) {
    const bySeq = lookup[p.sourceRef] ?? {};
    lookup[p.sourceRef] = bySeq;
    const value = `${p.lastSeq}.${p.attempt}.${p.incarnation}`;
    const seq = p.firstSeq.toString();
    const values = bySeq[seq];
    if (values) values.push(value);
    else bySeq[seq] = [value];
    const key = `${p.sourceRef}/${seq}/${value}`;
    if (!keys.has(key)) keys.set(key, p.i);
  }
  return { lookup, keys };
}

/**
 * Acknowledges deliveries: deletes the rows whose current attempt the ids name (a dead letter
 * is discarded the same way). A pending row whose attempt timed out but was not handed out again
 * is still acknowledged: the work was done. An id named twice is acknowledged once (the other
 * is already acknowledged).
 */
export async function ackDeliveries(
  db: Queryable,
  tenant: string,
  group: string,
  ids: readonly string[],
): Promise<SettleStatus[]> {
  const statuses: SettleStatus[] = ids.map(() => "unknown");
  const parsed = parseIds(ids);
  const { lookup, keys } = ackLookup(parsed);
  // The `= ANY` arrays as sets: every id of a batch usually names the same source.
  const refs = [...new Set(parsed.map((p) => p.sourceRef))];
  const firstSeqs = [...new Set(parsed.map((p) => p.firstSeq.toString()))];
  // One statement (its own transaction): acknowledging needs no lock (see PgConsumerGroupStore),
  // and a group deleted meanwhile has no deliveries left to delete. The `= ANY` terms probe the
  // primary key for exactly the named rows (see MATCH).
  const { rows } = await db.query<{
    found: boolean;
    done: [string, string, string, string][] | null;
  }>({
    name: "pgsync-group-ack",
    // The group sources are read once (`src`): joined directly, each deleted row probed them again.
    // The first_seq range bounds the index scan: generic plans do not probe with the `= ANY` terms.
    text: `WITH src AS MATERIALIZED (
       SELECT s.source_ref, s.incarnation FROM ${T.sources} s
       WHERE s.tenant = $1 AND s.group_name = $2 AND s.source_ref = ANY($3::text[])),
     done AS (
       DELETE FROM ${T.deliveries} d USING src s
       WHERE d.tenant = $1 AND d.group_name = $2 AND d.source_ref = ANY($3::text[]) AND d.first_seq = ANY($4::bigint[])
         AND d.first_seq BETWEEN $6 AND $7 AND s.source_ref = d.source_ref
         AND (($5::jsonb -> d.source_ref) -> d.first_seq::text) ? (d.last_seq || '.' || d.attempt || '.' || s.incarnation)
       RETURNING d.source_ref, d.first_seq::text, d.last_seq || '.' || d.attempt || '.' || s.incarnation AS value, d.state)
     SELECT EXISTS (SELECT 1 FROM ${T.groups} WHERE tenant = $1 AND group_name = $2) AS found,
       (SELECT json_agg(json_build_array(source_ref, first_seq, value, state)) FROM done) AS done`,
    values: [tenant, group, refs, firstSeqs, JSON.stringify(lookup), ...firstSeqRange(parsed)],
  });
  if (!rows[0]?.found) throw new ConsumerGroupNotFoundError(group);
  for (const [ref, first, value, state] of rows[0].done ?? []) {
    const i = keys.get(`${ref}/${first}/${value}`);
    if (i !== undefined) statuses[i] = state === "dead" ? "discarded" : "acknowledged";
  }
  await classifyRest(db, tenant, group, parsed, statuses);
  return statuses;
}

/** Input of {@link nackDeliveries}. */
export interface NackInput {
  readonly tenant: string;
  readonly group: string;
  readonly ids: readonly string[];
  readonly retryAfterMs: number;
  readonly error: string;
}

/**
 * Gives deliveries back to the group (available again after the retry delay), dead-letters those
 * that used their last attempt, and redrives dead letters (their attempt count starts again).
 */
export async function nackDeliveries(c: pg.PoolClient, input: NackInput): Promise<SettleStatus[]> {
  const { tenant, group, ids } = input;
  const maxDeliveries = await requireGroup(c, tenant, group);
  const statuses: SettleStatus[] = ids.map(() => "unknown");
  const parsed = parseIds(ids);
  const values = idArrays(parsed);
  const { rows } = await c.query<{ i: number; outcome: SettleStatus }>(
    `UPDATE ${T.deliveries} d SET
       state = CASE WHEN d.state = 'dead' THEN 'pending'
                    WHEN d.attempt - d.attempt_base >= $9 THEN 'dead' ELSE 'pending' END,
       attempt_base = CASE WHEN d.state = 'dead' THEN d.attempt ELSE d.attempt_base END,
       dead_at = CASE WHEN d.state <> 'dead' AND d.attempt - d.attempt_base >= $9 THEN now() END,
       member_id = NULL, ack_deadline = NULL,
       available_at = now() + make_interval(secs => $10::float8 / 1000),
       last_error = CASE WHEN d.state = 'dead' THEN d.last_error ELSE $11 END
     FROM ${REQ}, ${T.sources} s WHERE ${MATCH}
     RETURNING r.i, CASE WHEN d.state = 'dead' THEN 'dead-lettered'
            WHEN d.attempt_base = d.attempt AND d.attempt > 0 THEN 'redriven' ELSE 'released' END AS outcome`,
    [tenant, group, ...values, maxDeliveries, input.retryAfterMs, input.error || "nacked"],
  );
  for (const row of rows) statuses[row.i] = row.outcome;
  await classifyRest(c, tenant, group, parsed, statuses);
  return statuses;
}
