import type pg from "pg";
import type { BatchCommit, CommitResult, LogMode, StoredCursor } from "../domain/change-log.js";
import { FencedError } from "../domain/errors.js";
import type { CursorStore } from "../domain/ports.js";
import type { SourceState } from "../domain/source.js";
import { commitStatement, valueChars } from "./commit-statement.js";
import { SOURCES_CHANNEL, TABLES } from "./constants.js";

/**
 * Told that a batch commit starts; returns what to tell when it ends, with its result (undefined
 * when it failed: it may or may not have been committed). Neither may throw.
 */
export type CommitObserver = (batch: BatchCommit) => (outcome: CommitOutcome | undefined) => void;

/** A commit that went through: its result, and the size of the row values it wrote. */
export interface CommitOutcome {
  readonly result: CommitResult;
  /** Characters of the batch's row values as JSON (see commit-statement.ts `valueChars`). */
  readonly valueChars: number;
}

interface CursorRow {
  shape_handle: string | null;
  shape_offset: string | null;
  log_mode: LogMode;
  head_seq: string;
  tail_seq: string | null;
  generation: string;
  up_to_date_at: Date | null;
  updated_at: Date;
  // replicas (issue 13): the owner, and its heartbeat's expiry (the lease lives as long as it)
  owner: string | null;
  lease_expires_at: Date | null;
  lease_live: boolean | null;
}

const CURSOR_COLUMNS = `shape_handle, shape_offset, log_mode, head_seq, generation, up_to_date_at, updated_at,
  owner, (SELECT r.expires_at FROM ${TABLES.replicas} r WHERE r.replica_id = k.owner) AS lease_expires_at,
  coalesce((SELECT r.expires_at > now() FROM ${TABLES.replicas} r WHERE r.replica_id = k.owner), false) AS lease_live,
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

/** {@link CursorStore} over `pgsync.cursors` and `pgsync.changes`. */
export class PgCursorStore implements CursorStore {
  readonly #pool: pg.Pool;

  readonly #onCommit: CommitObserver | undefined;

  /** `onCommit` is told of every commit as it starts, and of its result as it ends. */
  constructor(pool: pg.Pool, onCommit?: CommitObserver) {
    this.#pool = pool;
    this.#onCommit = onCommit;
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
    const ended = this.#onCommit?.(batch);
    let outcome: CommitOutcome | undefined;
    try {
      const statement = commitStatement(batch);
      const { rows } = await this.#pool.query<{ head_seq: string | null; appended: string }>(statement);
      const row = rows[0];
      if (!row || row.head_seq === null) throw new FencedError(batch.sourceRef, batch.generation);
      const result = { headSeq: BigInt(row.head_seq), appended: Number(row.appended) };
      outcome = { result, valueChars: valueChars(statement) };
      return result;
    } finally {
      ended?.(outcome);
    }
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
