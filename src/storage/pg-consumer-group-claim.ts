import type pg from "pg";
import type { GapReason } from "../domain/change-log.js";
import type {
  DeliveryState,
  DeliveryView,
  GroupRecord,
  NewDelivery,
  Ordering,
} from "../domain/consumer-group.js";
import { selectClaims } from "../domain/consumer-group-ordering.js";
import type { ClaimInput, ClaimOutcome } from "../domain/consumer-group-store.js";
import { ConsumerGroupNotFoundError } from "../domain/errors.js";
import type { Operation } from "../domain/source-options.js";
import { GROUP_TABLES as T } from "./constants.js";

/** A stored group row. */
export interface GroupRow {
  tenant: string;
  group_name: string;
  ops: Operation[];
  debounce_ms: number;
  max_wait_ms: number;
  max_changes_per_wake: number;
  ack_timeout_ms: number;
  max_deliveries: number;
  ordering: Ordering;
  created_at: Date;
}

/** A delivery row as the claim reads it. */
interface DeliveryRow {
  source_ref: string;
  first_seq: string;
  last_seq: string;
  kind: "wake" | "gap";
  change_count: number;
  keys: string[];
  gap_reason: GapReason | null;
  gap_detail: string | null;
  state: DeliveryState;
  attempt: number;
  attempt_base: number;
  ack_deadline: Date | null;
  available_at: Date;
}

type ViewRow = DeliveryView & { readonly row: DeliveryRow };

const DELIVERY_COLUMNS = `d.source_ref, d.first_seq, d.last_seq, d.kind, d.change_count, d.keys, d.gap_reason,
  d.gap_detail, d.state, d.attempt, d.attempt_base, d.ack_deadline, d.available_at`;

/** Maps a stored group row. */
export function groupFromRow(row: GroupRow): GroupRecord {
  return {
    tenant: row.tenant,
    group: row.group_name,
    createdAt: row.created_at,
    settings: {
      ops: row.ops,
      debounceMs: row.debounce_ms,
      maxWaitMs: row.max_wait_ms,
      maxChangesPerWake: row.max_changes_per_wake,
      ackTimeoutMs: row.ack_timeout_ms,
      maxDeliveries: row.max_deliveries,
      ordering: row.ordering,
    },
  };
}

function toView(row: DeliveryRow): ViewRow {
  return {
    row,
    sourceRef: row.source_ref,
    firstSeq: BigInt(row.first_seq),
    state: row.state,
    attempt: row.attempt - row.attempt_base,
    keys: row.keys,
    ackDeadline: row.ack_deadline ?? undefined,
    availableAt: row.available_at,
  };
}

function toNewDelivery(row: DeliveryRow): NewDelivery {
  const firstSeq = BigInt(row.first_seq);
  const lastSeq = BigInt(row.last_seq);
  if (row.kind === "gap") {
    return {
      kind: "gap",
      firstSeq,
      lastSeq,
      reason: row.gap_reason ?? "retention",
      detail: row.gap_detail ?? "",
    };
  }
  return { kind: "wake", firstSeq, lastSeq, changeCount: row.change_count, keys: row.keys };
}

/** The claim's candidate rows: what the ordering rules need to decide, no more. */
async function candidateRows(
  c: pg.PoolClient,
  ordering: Ordering,
  key: readonly string[],
  refs: readonly string[],
  room: number,
): Promise<{ rows: DeliveryRow[]; nextAt?: Date | undefined }> {
  const base = `d.tenant = $1 AND d.group_name = $2 AND d.source_ref = ANY($3)`;
  const active = `d.state = 'in_flight' AND d.ack_deadline > now()`;
  const values = [...key, refs];
  if (ordering === "key") {
    // Row keys of every older delivery matter.
    const { rows } = await c.query<DeliveryRow>(
      `SELECT ${DELIVERY_COLUMNS} FROM ${T.deliveries} d WHERE ${base} AND d.state <> 'dead'`,
      values,
    );
    return { rows };
  }
  if (ordering === "source") {
    // The active deliveries and the oldest waiting one per source decide everything.
    const { rows } = await c.query<DeliveryRow>(
      `(SELECT DISTINCT ON (d.source_ref) ${DELIVERY_COLUMNS} FROM ${T.deliveries} d
        WHERE ${base} AND d.state <> 'dead' AND NOT (${active}) ORDER BY d.source_ref, d.first_seq)
       UNION ALL (SELECT ${DELIVERY_COLUMNS} FROM ${T.deliveries} d WHERE ${base} AND ${active})`,
      values,
    );
    return { rows };
  }
  const { rows } = await c.query<DeliveryRow>(
    `SELECT ${DELIVERY_COLUMNS} FROM ${T.deliveries} d
     WHERE ${base} AND ((d.state = 'pending' AND d.available_at <= now())
       OR (d.state = 'in_flight' AND d.ack_deadline <= now()))
     ORDER BY d.source_ref, d.first_seq LIMIT $4`,
    [...values, room],
  );
  const next = await c.query<{ next: Date | null }>(
    `SELECT min(CASE WHEN d.state = 'pending' THEN d.available_at ELSE d.ack_deadline END) AS next
     FROM ${T.deliveries} d WHERE ${base} AND d.state <> 'dead'
       AND CASE WHEN d.state = 'pending' THEN d.available_at ELSE d.ack_deadline END > now()`,
    values,
  );
  return { rows, nextAt: next.rows[0]?.next ?? undefined };
}

/**
 * Claims deliveries for a member, in the caller's transaction: up to its free room
 * (`maxInFlight` minus its active deliveries), among its sources, by the group's ordering rules
 * (`selectClaims`), dead-lettering those past `max_deliveries`. Claims serialise per group
 * source: the group-source rows are locked `FOR UPDATE`, in source order, so claims never
 * deadlock. Acks, nacks and closed streams only ever make deliveries *more* claimable, so they
 * take no such lock: a claim that read an older state errs on the side of holding back. This is
 * what keeps the ordering guarantees with several members on several replicas.
 */
export async function claimDeliveries(c: pg.PoolClient, input: ClaimInput): Promise<ClaimOutcome> {
  const { tenant, group, memberId } = input;
  const key = [tenant, group];
  const g = await c.query<GroupRow & { now: Date }>(
    `SELECT *, now() AS now FROM ${T.groups} WHERE tenant = $1 AND group_name = $2 FOR SHARE`,
    key,
  );
  const groupRow = g.rows[0];
  if (!groupRow) throw new ConsumerGroupNotFoundError(group);
  const held = await c.query<{ n: number; next: Date | null }>(
    `SELECT count(*)::int AS n, min(ack_deadline) AS next FROM ${T.deliveries}
     WHERE tenant = $1 AND group_name = $2 AND member_id = $3 AND state = 'in_flight' AND ack_deadline > now()`,
    [...key, memberId],
  );
  const room = input.maxInFlight - (held.rows[0]?.n ?? 0);
  if (room <= 0) return { claimed: [], deadLettered: 0, nextAt: held.rows[0]?.next ?? undefined };
  const locked = await c.query<{ source_ref: string; incarnation: string }>(
    `SELECT source_ref, incarnation FROM ${T.sources}
     WHERE tenant = $1 AND group_name = $2 AND source_ref = ANY($3) ORDER BY source_ref FOR UPDATE`,
    [...key, input.sourceRefs],
  );
  const incarnations = new Map(locked.rows.map((r) => [r.source_ref, r.incarnation]));
  const candidates = await candidateRows(c, groupRow.ordering, key, [...incarnations.keys()], room);
  const pick = selectClaims(candidates.rows.map(toView), {
    ordering: groupRow.ordering,
    maxDeliveries: groupRow.max_deliveries,
    room,
    now: groupRow.now,
  });
  await deadLetter(c, key, pick.deadLetter);
  const claimed = await markInFlight(c, input, groupRow.ack_timeout_ms, pick.claim);
  let nextAt = pick.nextAt;
  if (candidates.nextAt && (!nextAt || candidates.nextAt < nextAt)) nextAt = candidates.nextAt;
  return {
    claimed: claimed.map((row) => ({
      sourceRef: row.source_ref,
      incarnation: incarnations.get(row.source_ref) ?? "0",
      delivery: toNewDelivery(row),
      attempt: row.attempt,
      ackDeadline: row.ack_deadline as Date,
    })),
    deadLettered: pick.deadLetter.length,
    nextAt,
  };
}

async function deadLetter(c: pg.PoolClient, key: readonly string[], rows: readonly ViewRow[]): Promise<void> {
  if (rows.length === 0) return;
  await c.query(
    `UPDATE ${T.deliveries} d SET state = 'dead', dead_at = now(), member_id = NULL, ack_deadline = NULL,
       last_error = CASE WHEN d.state = 'in_flight' THEN 'ack timeout' ELSE coalesce(d.last_error, 'max deliveries reached') END
     FROM unnest($3::text[], $4::bigint[]) AS r(source_ref, first_seq)
     WHERE d.tenant = $1 AND d.group_name = $2 AND d.source_ref = r.source_ref AND d.first_seq = r.first_seq`,
    [...key, rows.map((d) => d.sourceRef), rows.map((d) => d.firstSeq.toString())],
  );
}

async function markInFlight(
  c: pg.PoolClient,
  input: ClaimInput,
  ackTimeoutMs: number,
  picks: readonly ViewRow[],
) {
  if (picks.length === 0) return [];
  const { rows } = await c.query<DeliveryRow>(
    `UPDATE ${T.deliveries} d SET state = 'in_flight', attempt = d.attempt + 1, member_id = $3,
       ack_deadline = now() + make_interval(secs => $4::float8 / 1000),
       last_error = CASE WHEN d.state = 'in_flight' THEN 'ack timeout' ELSE d.last_error END
     FROM unnest($5::text[], $6::bigint[]) AS r(source_ref, first_seq)
     WHERE d.tenant = $1 AND d.group_name = $2 AND d.source_ref = r.source_ref AND d.first_seq = r.first_seq
       AND d.state <> 'dead'
     RETURNING ${DELIVERY_COLUMNS}`,
    [
      input.tenant,
      input.group,
      input.memberId,
      ackTimeoutMs,
      picks.map((d) => d.sourceRef),
      picks.map((d) => d.firstSeq.toString()),
    ],
  );
  return rows.sort((a, b) =>
    a.source_ref === b.source_ref
      ? Number(BigInt(a.first_seq) - BigInt(b.first_seq))
      : a.source_ref < b.source_ref
        ? -1
        : 1,
  );
}
