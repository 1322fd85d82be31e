import type pg from "pg";
import { deliveryIdFor, type GroupRecord } from "../domain/consumer-group.js";
import type { DeadLetterReport, GroupReport } from "../domain/consumer-group-store.js";
import { wakeIdFor } from "../domain/watch-frames.js";
import { GROUP_TABLES as T } from "./constants.js";

/** Members not seen for this long (a killed process) are not listed, and are forgotten. */
export const MEMBER_TTL_MS = 60_000;

/** GetConsumerGroup: per-source positions and counts, live members, dead letters. */
export async function describeGroup(
  c: pg.PoolClient,
  group: GroupRecord,
  deadLetterLimit: number,
): Promise<GroupReport> {
  const key = [group.tenant, group.group];
  return {
    group,
    sources: await sourceReports(c, key),
    members: await liveMembers(c, key),
    deadLetters: await deadLetters(c, key, deadLetterLimit),
  };
}

/** Per source of the group: delivered and acknowledged positions, pending, in-flight and dead counts. */
async function sourceReports(c: pg.PoolClient, key: string[]): Promise<GroupReport["sources"]> {
  const { rows } = await c.query<{
    source_ref: string;
    delivered_seq: string;
    first_unfinished: string | null;
    pending: number;
    in_flight: number;
    dead: number;
  }>(
    `SELECT s.source_ref, s.delivered_seq,
       min(d.first_seq) FILTER (WHERE d.state <> 'dead') AS first_unfinished,
       count(d.*) FILTER (WHERE d.state = 'pending' OR (d.state = 'in_flight' AND d.ack_deadline <= now()))::int AS pending,
       count(d.*) FILTER (WHERE d.state = 'in_flight' AND d.ack_deadline > now())::int AS in_flight,
       count(d.*) FILTER (WHERE d.state = 'dead')::int AS dead
     FROM ${T.sources} s
     LEFT JOIN ${T.deliveries} d ON d.tenant = s.tenant AND d.group_name = s.group_name AND d.source_ref = s.source_ref
     WHERE s.tenant = $1 AND s.group_name = $2
     GROUP BY s.source_ref, s.delivered_seq ORDER BY s.source_ref`,
    key,
  );
  return rows.map((r) => ({
    sourceRef: r.source_ref,
    deliveredSeq: BigInt(r.delivered_seq),
    acknowledgedSeq: r.first_unfinished === null ? BigInt(r.delivered_seq) : BigInt(r.first_unfinished) - 1n,
    pending: r.pending,
    inFlight: r.in_flight,
    dead: r.dead,
  }));
}

/** The group's members seen within the member TTL (older ones are forgotten first). */
async function liveMembers(c: pg.PoolClient, key: string[]): Promise<GroupReport["members"]> {
  await c.query(
    `DELETE FROM ${T.members} WHERE tenant = $1 AND group_name = $2
     AND seen_at < now() - make_interval(secs => $3::float8 / 1000)`,
    [...key, MEMBER_TTL_MS],
  );
  const { rows } = await c.query<{
    member_id: string;
    member_name: string;
    connected_at: Date;
    in_flight: number;
  }>(
    `SELECT m.member_id, m.member_name, m.connected_at, coalesce(h.in_flight, 0) AS in_flight
     FROM ${T.members} m
     LEFT JOIN (SELECT d.member_id, count(*)::int AS in_flight FROM ${T.deliveries} d
       WHERE d.tenant = $1 AND d.group_name = $2 AND d.state = 'in_flight' AND d.ack_deadline > now()
       GROUP BY d.member_id) h ON h.member_id = m.member_id
     WHERE m.tenant = $1 AND m.group_name = $2 ORDER BY m.connected_at, m.member_id`,
    key,
  );
  return rows.map((r) => ({
    memberId: r.member_id,
    memberName: r.member_name,
    inFlight: r.in_flight,
    connectedAt: r.connected_at,
  }));
}

/** The group's dead letters, oldest first, at most `limit`. */
async function deadLetters(c: pg.PoolClient, key: string[], limit: number): Promise<DeadLetterReport[]> {
  const { rows } = await c.query<{
    source_ref: string;
    incarnation: string;
    first_seq: string;
    last_seq: string;
    attempt: number;
    attempt_base: number;
    last_error: string | null;
    dead_at: Date;
  }>(
    `SELECT d.source_ref, s.incarnation, d.first_seq, d.last_seq, d.attempt, d.attempt_base, d.last_error, d.dead_at
     FROM ${T.deliveries} d JOIN ${T.sources} s USING (tenant, group_name, source_ref)
     WHERE d.tenant = $1 AND d.group_name = $2 AND d.state = 'dead'
     ORDER BY d.dead_at, d.source_ref, d.first_seq LIMIT $3`,
    [...key, limit],
  );
  return rows.map((r) => {
    const firstSeq = BigInt(r.first_seq);
    const lastSeq = BigInt(r.last_seq);
    return {
      deliveryId: deliveryIdFor(r.source_ref, r.incarnation, firstSeq, lastSeq, r.attempt),
      sourceRef: r.source_ref,
      wakeId: wakeIdFor(r.source_ref, r.incarnation, firstSeq, lastSeq),
      firstSeq,
      lastSeq,
      attempts: r.attempt - r.attempt_base,
      lastError: r.last_error ?? "",
      deadAt: r.dead_at,
    };
  });
}
