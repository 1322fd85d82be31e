import type pg from "pg";
import {
  type GroupRecord,
  type GroupSettings,
  type NewDelivery,
  type SettleStatus,
  sourceSetKey,
} from "../domain/consumer-group.js";
import type {
  ClaimInput,
  ClaimOutcome,
  ConsumerGroupStore,
  GroupReport,
} from "../domain/consumer-group-store.js";
import { QuotaExceededError } from "../domain/errors.js";
import { GROUP_TABLES as T } from "./constants.js";
import { claimDeliveries } from "./pg-consumer-group-claim.js";
import { describeGroup } from "./pg-consumer-group-report.js";
import { type GroupRow, groupFromRow } from "./pg-consumer-group-rows.js";
import { ackDeliveries, nackDeliveries } from "./pg-consumer-group-settle.js";

/**
 * {@link ConsumerGroupStore} over the `pgsync.consumer_*` tables. Claims take effect one after
 * another per group source: a claim reads the unfinished deliveries with the group sources'
 * claim versions, applies the ordering rules (`selectClaims`), then locks the group sources,
 * checks the versions are unchanged and marks its picks in flight while moving them on; when
 * another claim came first it reads again (see `claimDeliveries`). Acks, nacks and released
 * streams only ever make deliveries *more* claimable, so they need no lock: a claim that read
 * an older state errs on the side of holding back. This is what keeps the ordering guarantees
 * with several members on several replicas.
 */
export class PgConsumerGroupStore implements ConsumerGroupStore {
  readonly #pool: pg.Pool;

  constructor(pool: pg.Pool) {
    this.#pool = pool;
  }

  async getGroup(tenant: string, group: string): Promise<GroupRecord | undefined> {
    const { rows } = await this.#pool.query<GroupRow>(
      `SELECT * FROM ${T.groups} WHERE tenant = $1 AND group_name = $2`,
      [tenant, group],
    );
    return rows[0] ? groupFromRow(rows[0]) : undefined;
  }

  async createGroup(
    tenant: string,
    group: string,
    s: GroupSettings,
    maxGroups: number,
  ): Promise<GroupRecord> {
    return this.#tx(async (c) => {
      // Serialises creations per tenant, so the quota holds under concurrency.
      await c.query("SELECT pg_advisory_xact_lock(hashtext('pgsync-groups:' || $1))", [tenant]);
      const existing = await c.query<GroupRow>(
        `SELECT * FROM ${T.groups} WHERE tenant = $1 AND group_name = $2`,
        [tenant, group],
      );
      if (existing.rows[0]) return groupFromRow(existing.rows[0]);
      const count = await c.query<{ n: number }>(
        `SELECT count(*)::int AS n FROM ${T.groups} WHERE tenant = $1`,
        [tenant],
      );
      if ((count.rows[0]?.n ?? 0) >= maxGroups) {
        throw new QuotaExceededError(
          "groups_per_tenant",
          `tenant already has ${maxGroups} consumer groups (the limit); delete some first`,
        );
      }
      const { rows } = await c.query<GroupRow>(
        `INSERT INTO ${T.groups} (tenant, group_name, ops, debounce_ms, max_wait_ms, max_changes_per_wake,
           ack_timeout_ms, max_deliveries, ordering)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) RETURNING *`,
        [
          tenant,
          group,
          s.ops,
          s.debounceMs,
          s.maxWaitMs,
          s.maxChangesPerWake,
          s.ackTimeoutMs,
          s.maxDeliveries,
          s.ordering,
        ],
      );
      return groupFromRow(rows[0] as GroupRow);
    });
  }

  async deleteGroup(tenant: string, group: string): Promise<boolean> {
    const { rowCount } = await this.#pool.query(
      `DELETE FROM ${T.groups} WHERE tenant = $1 AND group_name = $2`,
      [tenant, group],
    );
    return (rowCount ?? 0) > 0;
  }

  async addSource(
    tenant: string,
    group: string,
    sourceRef: string,
    incarnation: string,
    seq: bigint,
  ): Promise<void> {
    await this.#pool.query(
      `INSERT INTO ${T.sources} (tenant, group_name, source_ref, incarnation, delivered_seq)
       VALUES ($1, $2, $3, $4, $5) ON CONFLICT DO NOTHING`,
      [tenant, group, sourceRef, incarnation, seq.toString()],
    );
  }

  async getSource(
    tenant: string,
    group: string,
    sourceRef: string,
  ): Promise<{ deliveredSeq: bigint } | undefined> {
    const { rows } = await this.#pool.query<{ delivered_seq: string }>(
      `SELECT delivered_seq FROM ${T.sources} WHERE tenant = $1 AND group_name = $2 AND source_ref = $3`,
      [tenant, group, sourceRef],
    );
    return rows[0] ? { deliveredSeq: BigInt(rows[0].delivered_seq) } : undefined;
  }

  async appendDeliveries(
    tenant: string,
    group: string,
    sourceRef: string,
    expectedSeq: bigint,
    newSeq: bigint,
    deliveries: readonly NewDelivery[],
  ): Promise<boolean> {
    const json = deliveries.map((d) => ({
      first_seq: d.firstSeq.toString(),
      last_seq: d.lastSeq.toString(),
      kind: d.kind,
      change_count: d.kind === "wake" ? d.changeCount : 0,
      keys: d.kind === "wake" ? d.keys : [],
      gap_reason: d.kind === "gap" ? d.reason : null,
      gap_detail: d.kind === "gap" ? d.detail : null,
    }));
    // One statement: the position's row stays locked for no longer than the statement, so claims
    // (which move the same row's claim version) never wait on a round trip of this one. A plain
    // INSERT (no ON CONFLICT, whose speculative insertion cost about 40 % of the statement): the
    // compare-and-set on delivered_seq admits one append per position, and every stored delivery
    // lies at or before its source's position while every new one starts after it, so a
    // duplicate key means the position moved back, and fails loudly instead of being skipped.
    const { rows } = await this.#pool.query<{ moved: boolean }>(
      `WITH moved AS (
         UPDATE ${T.sources} SET delivered_seq = $5
         WHERE tenant = $1 AND group_name = $2 AND source_ref = $3 AND delivered_seq = $4 RETURNING 1),
       stored AS (
         INSERT INTO ${T.deliveries} (tenant, group_name, source_ref, first_seq, last_seq, kind, change_count, keys,
           gap_reason, gap_detail)
         SELECT $1, $2, $3, x.first_seq, x.last_seq, x.kind, x.change_count, x.keys, x.gap_reason, x.gap_detail
         FROM jsonb_to_recordset($6::jsonb) AS x(first_seq bigint, last_seq bigint, kind text, change_count int,
           keys text[], gap_reason text, gap_detail text)
         WHERE EXISTS (SELECT 1 FROM moved)
         RETURNING 1)
       SELECT EXISTS (SELECT 1 FROM moved) AS moved, (SELECT count(*) FROM stored) AS stored`,
      [tenant, group, sourceRef, expectedSeq.toString(), newSeq.toString(), JSON.stringify(json)],
    );
    return rows[0]?.moved === true;
  }

  async countUnfinished(tenant: string, group: string, sourceRef: string): Promise<number> {
    const { rows } = await this.#pool.query<{ n: number }>(
      `SELECT count(*)::int AS n FROM ${T.deliveries} WHERE tenant = $1 AND group_name = $2 AND source_ref = $3`,
      [tenant, group, sourceRef],
    );
    return rows[0]?.n ?? 0;
  }

  async claim(input: ClaimInput): Promise<ClaimOutcome> {
    return (await this.claimMany([input]))[0] as ClaimOutcome;
  }

  async claimMany(inputs: readonly ClaimInput[]): Promise<ClaimOutcome[]> {
    const first = inputs[0];
    if (!first) return [];
    const refs = sourceSetKey(first.sourceRefs);
    for (const input of inputs) {
      if (
        input.tenant !== first.tenant ||
        input.group !== first.group ||
        sourceSetKey(input.sourceRefs) !== refs
      ) {
        throw new Error("claimMany: every input must name the same group and sources");
      }
    }
    return claimDeliveries(this.#pool, inputs, first.ordering);
  }

  ack(tenant: string, group: string, ids: readonly string[]): Promise<SettleStatus[]> {
    return ackDeliveries(this.#pool, tenant, group, ids);
  }

  nack(
    tenant: string,
    group: string,
    ids: readonly string[],
    retryAfterMs: number,
    error: string,
  ): Promise<SettleStatus[]> {
    return this.#tx((c) => nackDeliveries(c, { tenant, group, ids, retryAfterMs, error }));
  }

  describe(tenant: string, group: string, deadLetterLimit: number): Promise<GroupReport | undefined> {
    return this.#tx(async (c) => {
      // One snapshot for every count and list, so they agree with each other.
      await c.query("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ");
      const { rows } = await c.query<GroupRow>(
        `SELECT * FROM ${T.groups} WHERE tenant = $1 AND group_name = $2`,
        [tenant, group],
      );
      return rows[0] ? describeGroup(c, groupFromRow(rows[0]), deadLetterLimit) : undefined;
    });
  }

  async addMember(tenant: string, group: string, memberId: string, memberName: string): Promise<void> {
    await this.#pool.query(
      `INSERT INTO ${T.members} (tenant, group_name, member_id, member_name) VALUES ($1, $2, $3, $4)
       ON CONFLICT DO NOTHING`,
      [tenant, group, memberId, memberName],
    );
  }

  async touchMember(tenant: string, group: string, memberId: string): Promise<void> {
    await this.#pool.query(
      `UPDATE ${T.members} SET seen_at = now() WHERE tenant = $1 AND group_name = $2 AND member_id = $3`,
      [tenant, group, memberId],
    );
  }

  async removeMember(tenant: string, group: string, memberId: string): Promise<void> {
    await this.#tx(async (c) => {
      await c.query(
        `UPDATE ${T.deliveries} SET state = 'pending', member_id = NULL, ack_deadline = NULL, available_at = now(),
           last_error = 'stream closed'
         WHERE tenant = $1 AND group_name = $2 AND member_id = $3 AND state = 'in_flight'`,
        [tenant, group, memberId],
      );
      await c.query(`DELETE FROM ${T.members} WHERE tenant = $1 AND group_name = $2 AND member_id = $3`, [
        tenant,
        group,
        memberId,
      ]);
    });
  }

  async #tx<R>(body: (c: pg.PoolClient) => Promise<R>): Promise<R> {
    const c = await this.#pool.connect();
    try {
      await c.query("BEGIN");
      const result = await body(c);
      await c.query("COMMIT");
      return result;
    } catch (err) {
      await c.query("ROLLBACK").catch(() => {});
      throw err;
    } finally {
      c.release();
    }
  }
}
