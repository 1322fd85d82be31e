import type pg from "pg";
import type { SourceStore } from "../domain/ports.js";
import type { SourceRecord, SourceState, UpsertSource } from "../domain/source.js";
import type { CanonicalSourceOptions } from "../domain/source-ref.js";
import { SOURCES_CHANNEL, TABLES } from "./constants.js";

/** A `pgsync.sources` row as selected with {@link SOURCE_COLUMNS}. */
export interface SourceRow {
  tenant: string;
  source_ref: string;
  incarnation: string;
  options: CanonicalSourceOptions;
  shape_url: string;
  state: SourceState;
  last_error: string | null;
  created_at: Date;
  registered_at: Date;
  watched_at: Date | null;
  updated_at: Date;
  access_key: string | null;
}

/** The columns {@link toSourceRecord} reads. */
export const SOURCE_COLUMNS =
  "tenant, source_ref, incarnation, options, shape_url, state, last_error, created_at, registered_at, watched_at, updated_at, access_key";

/** Maps a sources row to the domain record. */
export function toSourceRecord(row: SourceRow): SourceRecord {
  return {
    tenant: row.tenant,
    sourceRef: row.source_ref,
    incarnation: String(row.incarnation),
    options: row.options,
    shapeUrl: row.shape_url,
    state: row.state,
    lastError: row.last_error ?? undefined,
    createdAt: row.created_at,
    registeredAt: row.registered_at,
    watchedAt: row.watched_at ?? undefined,
    updatedAt: row.updated_at,
    ...(row.access_key === null ? {} : { accessKey: row.access_key }),
  };
}

/** {@link SourceStore} over `pgsync.sources`; every query is scoped by tenant. */
export class PgSourceStore implements SourceStore {
  readonly #pool: pg.Pool;

  constructor(pool: pg.Pool) {
    this.#pool = pool;
  }

  async upsert(input: UpsertSource): Promise<{ record: SourceRecord; created: boolean }> {
    // ON CONFLICT makes concurrent identical registrations converge on one row; xmax = 0 only
    // for the row version this statement inserted, so exactly one caller sees created = true.
    // The cursor row is created (or given its first handle) in the same statement: a source never
    // exists without one, and a registration never returns before its first cursor is stored.
    const { rows } = await this.#pool.query<SourceRow & { inserted: boolean }>(
      `WITH s AS (
         INSERT INTO ${TABLES.sources} (tenant, source_ref, options, shape_url, access_key)
         VALUES ($1, $2, $3, $4, $8)
         ON CONFLICT (tenant, source_ref) DO UPDATE SET registered_at = now()
         RETURNING ${SOURCE_COLUMNS}, (xmax = 0) AS inserted
       ), c AS (
         INSERT INTO ${TABLES.cursors} (tenant, source_ref, shape_handle, shape_offset, log_mode)
         SELECT tenant, source_ref, $5, $6, coalesce($7, 'changes_only') FROM s
         ON CONFLICT (tenant, source_ref) DO UPDATE
           SET shape_handle = EXCLUDED.shape_handle, shape_offset = EXCLUDED.shape_offset,
               log_mode = EXCLUDED.log_mode, updated_at = now()
           WHERE ${TABLES.cursors}.shape_handle IS NULL AND EXCLUDED.shape_handle IS NOT NULL
       )
       SELECT * FROM s`,
      [
        input.tenant,
        input.sourceRef,
        JSON.stringify(input.options),
        input.shapeUrl,
        input.initialCursor?.shapeHandle ?? null,
        input.initialCursor?.shapeOffset ?? null,
        input.initialCursor?.logMode ?? null,
        input.accessKey ?? null,
      ],
    );
    const row = rows[0] as SourceRow & { inserted: boolean };
    return { record: toSourceRecord(row), created: row.inserted };
  }

  async get(tenant: string, sourceRef: string): Promise<SourceRecord | undefined> {
    const { rows } = await this.#pool.query<SourceRow>(
      `SELECT ${SOURCE_COLUMNS} FROM ${TABLES.sources} WHERE tenant = $1 AND source_ref = $2`,
      [tenant, sourceRef],
    );
    return rows[0] ? toSourceRecord(rows[0]) : undefined;
  }

  async list(
    tenant: string,
    options: { afterRef?: string; limit: number; maxBytes?: number },
  ): Promise<SourceRecord[]> {
    // The running size is computed from the index-ordered page before any row is fetched whole,
    // so a page of large sources never loads more than `maxBytes` (plus one source) into memory.
    const { rows } = await this.#pool.query<SourceRow>(
      `WITH page AS (
         SELECT source_ref, sum(octet_length(options::text) + octet_length(shape_url) + 256)
                  OVER (ORDER BY source_ref ROWS UNBOUNDED PRECEDING) AS running,
                row_number() OVER (ORDER BY source_ref) AS n
         FROM ${TABLES.sources}
         WHERE tenant = $1 AND ($2::text IS NULL OR source_ref > $2)
         ORDER BY source_ref LIMIT $3
       )
       SELECT ${SOURCE_COLUMNS} FROM ${TABLES.sources} JOIN page USING (source_ref)
       WHERE tenant = $1 AND ($4::bigint IS NULL OR page.running <= $4 OR page.n = 1)
       ORDER BY source_ref`,
      [tenant, options.afterRef ?? null, options.limit, options.maxBytes ?? null],
    );
    return rows.map(toSourceRecord);
  }

  async count(tenant: string): Promise<number> {
    const { rows } = await this.#pool.query<{ n: string }>(
      `SELECT count(*) AS n FROM ${TABLES.sources} WHERE tenant = $1`,
      [tenant],
    );
    return Number(rows[0]?.n ?? 0);
  }

  async delete(tenant: string, sourceRef: string): Promise<boolean> {
    // Watchers on any process learn of the deletion from the notification, sent on commit.
    const { rows } = await this.#pool.query<{ n: string }>(
      `WITH d AS (DELETE FROM ${TABLES.sources} WHERE tenant = $1 AND source_ref = $2 RETURNING 1),
            n AS (SELECT pg_notify('${SOURCES_CHANNEL}',
                    json_build_object('t', $1::text, 'r', $2::text, 's', 'STOPPED', 'd', true)::text) FROM d)
       SELECT (SELECT count(*) FROM d) AS n, (SELECT count(*) FROM n) AS notified`,
      [tenant, sourceRef],
    );
    return Number(rows[0]?.n ?? 0) > 0;
  }

  async listResumable(): Promise<SourceRecord[]> {
    const { rows } = await this.#pool.query<SourceRow>(
      `SELECT ${SOURCE_COLUMNS} FROM ${TABLES.sources}
       WHERE state IN ('STARTING', 'LIVE', 'BACKING_OFF', 'STOPPED') ORDER BY tenant, source_ref`,
    );
    return rows.map(toSourceRecord);
  }

  async listUnusedSince(cutoff: Date): Promise<{ tenant: string; sourceRef: string }[]> {
    const { rows } = await this.#pool.query<{ tenant: string; source_ref: string }>(
      `SELECT tenant, source_ref FROM ${TABLES.sources}
       WHERE registered_at < $1 AND (watched_at IS NULL OR watched_at < $1)`,
      [cutoff],
    );
    return rows.map((r) => ({ tenant: r.tenant, sourceRef: r.source_ref }));
  }

  async touchWatched(tenant: string, sourceRefs: readonly string[]): Promise<void> {
    await this.#pool.query(
      `UPDATE ${TABLES.sources} SET watched_at = now() WHERE tenant = $1 AND source_ref = ANY($2::text[])`,
      [tenant, sourceRefs],
    );
  }
}
