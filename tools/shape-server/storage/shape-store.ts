/**
 * Durable storage of shapes in the shape server's own schema of the same Postgres: shape
 * definitions, snapshot rows, change logs, chunk boundaries and replication progress. A restart of
 * the server reloads everything from here, so clients resume with handle + offset unaffected.
 */
import type pg from "pg";
import { LOG_PAGE_ROWS } from "../constants.js";
import { quoteIdent } from "../identifiers.js";
import type { ShapeDefinition } from "../shapes/shape-definition.js";
import type { SnapshotInfo } from "../xid.js";

/** A shape as stored. */
export interface StoredShape {
  /** Handle. */
  readonly handle: string;
  /** Definition. */
  readonly definition: ShapeDefinition;
  /** Snapshot visibility data. */
  readonly snapshot: SnapshotInfo;
  /** Number of snapshot chunks (at least 1). */
  readonly snapshotChunks: number;
  /** Transaction of the last log entry, 0 when the log is empty. */
  readonly lastTx: bigint;
  /** Op of the last log entry. */
  readonly lastOp: number;
  /** Last entries of log chunks, ascending. */
  readonly chunkEnds: ChunkEnd[];
}

/** The last entry of a log chunk (chunks end on transaction boundaries). */
export interface ChunkEnd {
  /** Commit LSN of the chunk's last transaction. */
  readonly tx: bigint;
  /** Op of the chunk's last entry. */
  readonly op: number;
}

/**
 * The messages of one transaction for one shape. Responses always hold whole transactions, so the
 * log is stored (and kept in memory) per transaction.
 */
export interface LogEntry {
  /** Shape handle. */
  readonly handle: string;
  /** Commit LSN. */
  readonly tx: bigint;
  /** Op offset of the transaction's last message for the shape. */
  readonly op: number;
  /** The messages' JSON, separated by `\n` (which JSON text never contains). */
  readonly body: string;
}

/** One snapshot row. */
export interface SnapshotRow {
  /** Chunk number. */
  readonly chunk: number;
  /** Position in the snapshot. */
  readonly seq: number;
  /** The message JSON. */
  readonly body: string;
}

/** Everything one ingest transaction writes. */
export interface IngestWrite {
  /** Handles whose data is removed. */
  readonly drops: readonly string[];
  /** New log entries. */
  readonly entries: readonly LogEntry[];
  /** New chunk boundaries. */
  readonly chunkEnds: ReadonlyArray<{ readonly handle: string; readonly end: ChunkEnd }>;
  /** Commit LSN of the last replicated transaction this write covers. */
  readonly lsn: bigint;
}

/** Rows per INSERT statement of log entries (4 parameters each, below the 65 535 limit). */
const INSERT_ROWS_PER_STATEMENT = 2_000;

/** Access to the storage schema. */
export class ShapeStore {
  readonly #pool: pg.Pool;
  readonly #s: string;

  /** @param pool storage pool; @param schema name of the storage schema. */
  constructor(pool: pg.Pool, schema: string) {
    this.#pool = pool;
    this.#s = quoteIdent(schema);
  }

  /** Creates the schema and tables when missing. */
  async migrate(): Promise<void> {
    const s = this.#s;
    const client = await this.#pool.connect();
    try {
      await client.query("SELECT pg_advisory_lock(hashtext('electric_shapes_migrate'))");
      await client.query(`
        CREATE SCHEMA IF NOT EXISTS ${s};
        CREATE TABLE IF NOT EXISTS ${s}.shapes (
          handle text PRIMARY KEY,
          definition_key text NOT NULL,
          definition jsonb NOT NULL,
          status text NOT NULL,
          snapshot_xmin text,
          snapshot_xmax text,
          snapshot_xip text[],
          snapshot_chunks int,
          created_at timestamptz NOT NULL DEFAULT now()
        );
        CREATE TABLE IF NOT EXISTS ${s}.snapshot_rows (
          handle text NOT NULL, chunk int NOT NULL, seq int NOT NULL, body text NOT NULL,
          PRIMARY KEY (handle, chunk, seq)
        );
        CREATE TABLE IF NOT EXISTS ${s}.log (
          handle text NOT NULL, tx bigint NOT NULL, op int NOT NULL, body text NOT NULL,
          PRIMARY KEY (handle, tx)
        );
        ALTER TABLE ${s}.log ALTER COLUMN body SET STORAGE EXTERNAL;
        CREATE TABLE IF NOT EXISTS ${s}.chunks (
          handle text NOT NULL, tx bigint NOT NULL, op int NOT NULL, PRIMARY KEY (handle, tx)
        );
        CREATE TABLE IF NOT EXISTS ${s}.progress (id int PRIMARY KEY, lsn bigint NOT NULL);
        INSERT INTO ${s}.progress (id, lsn) VALUES (1, 0) ON CONFLICT DO NOTHING;
      `);
    } finally {
      await client.query("SELECT pg_advisory_unlock(hashtext('electric_shapes_migrate'))").catch(() => {});
      client.release();
    }
  }

  /** Commit LSN of the last replicated transaction stored. */
  async loadProgress(): Promise<bigint> {
    const res = await this.#pool.query<{ lsn: string }>(
      `SELECT lsn::text FROM ${this.#s}.progress WHERE id = 1`,
    );
    return BigInt(res.rows[0]?.lsn ?? "0");
  }

  /** All handles ever stored (to never hand one out again). */
  async loadAllHandles(): Promise<string[]> {
    const res = await this.#pool.query<{ handle: string }>(`SELECT handle FROM ${this.#s}.shapes`);
    return res.rows.map((r) => r.handle);
  }

  /** Removes every shape that is not ready (interrupted snapshots, deleted shapes) with its data. */
  async purgeNotReady(): Promise<void> {
    const res = await this.#pool.query<{ handle: string }>(
      `SELECT handle FROM ${this.#s}.shapes WHERE status <> 'ready'`,
    );
    if (res.rows.length > 0)
      await this.#deleteData(
        this.#pool,
        res.rows.map((r) => r.handle),
      );
  }

  /** Marks every shape deleted (used when the replication slot had to be recreated). */
  async dropAll(): Promise<void> {
    const res = await this.#pool.query<{ handle: string }>(
      `UPDATE ${this.#s}.shapes SET status = 'deleted' WHERE status <> 'deleted' RETURNING handle`,
    );
    if (res.rows.length > 0)
      await this.#deleteData(
        this.#pool,
        res.rows.map((r) => r.handle),
      );
  }

  /** Loads the ready shapes with their log positions and chunk boundaries. */
  async loadReadyShapes(): Promise<StoredShape[]> {
    const s = this.#s;
    const shapes = await this.#pool.query<{
      handle: string;
      definition: ShapeDefinition;
      snapshot_xmin: string;
      snapshot_xmax: string;
      snapshot_xip: string[];
      snapshot_chunks: number;
    }>(
      `SELECT handle, definition, snapshot_xmin, snapshot_xmax, snapshot_xip, snapshot_chunks
       FROM ${s}.shapes WHERE status = 'ready' ORDER BY created_at`,
    );
    const last = await this.#pool.query<{ handle: string; tx: string; op: number }>(
      `SELECT DISTINCT ON (handle) handle, tx::text, op FROM ${s}.log ORDER BY handle, tx DESC`,
    );
    const lastByHandle = new Map(last.rows.map((r) => [r.handle, r]));
    const chunks = await this.#pool.query<{ handle: string; tx: string; op: number }>(
      `SELECT handle, tx::text, op FROM ${s}.chunks ORDER BY handle, tx`,
    );
    const chunksByHandle = new Map<string, ChunkEnd[]>();
    for (const row of chunks.rows) {
      const list = chunksByHandle.get(row.handle) ?? [];
      list.push({ tx: BigInt(row.tx), op: row.op });
      chunksByHandle.set(row.handle, list);
    }
    return shapes.rows.map((row) => {
      const lastRow = lastByHandle.get(row.handle);
      return {
        handle: row.handle,
        definition: row.definition,
        snapshot: { xmin: row.snapshot_xmin, xmax: row.snapshot_xmax, xipList: row.snapshot_xip },
        snapshotChunks: row.snapshot_chunks,
        lastTx: lastRow ? BigInt(lastRow.tx) : 0n,
        lastOp: lastRow ? lastRow.op : 0,
        chunkEnds: chunksByHandle.get(row.handle) ?? [],
      };
    });
  }

  /** Records a new shape whose snapshot is starting. */
  async insertShape(handle: string, key: string, definition: ShapeDefinition): Promise<void> {
    await this.#pool.query(
      `INSERT INTO ${this.#s}.shapes (handle, definition_key, definition, status) VALUES ($1, $2, $3, 'creating')`,
      [handle, key, JSON.stringify(definition)],
    );
  }

  /** Stores snapshot rows. */
  async writeSnapshotRows(handle: string, rows: readonly SnapshotRow[]): Promise<void> {
    if (rows.length === 0) return;
    await this.#pool.query(
      `INSERT INTO ${this.#s}.snapshot_rows (handle, chunk, seq, body)
       SELECT $1, * FROM unnest($2::int[], $3::int[], $4::text[])`,
      [handle, rows.map((r) => r.chunk), rows.map((r) => r.seq), rows.map((r) => r.body)],
    );
  }

  /** Marks the snapshot complete. */
  async markReady(handle: string, snapshot: SnapshotInfo, chunks: number): Promise<void> {
    await this.#pool.query(
      `UPDATE ${this.#s}.shapes SET status = 'ready', snapshot_xmin = $2, snapshot_xmax = $3, snapshot_xip = $4,
         snapshot_chunks = $5 WHERE handle = $1 AND status = 'creating'`,
      [handle, snapshot.xmin, snapshot.xmax, snapshot.xipList, chunks],
    );
  }

  /** Reads one snapshot chunk page by page. */
  async *readSnapshotChunk(handle: string, chunk: number): AsyncGenerator<string[]> {
    let after = -1;
    for (;;) {
      const res = await this.#pool.query<{ seq: number; body: string }>(
        `SELECT seq, body FROM ${this.#s}.snapshot_rows WHERE handle = $1 AND chunk = $2 AND seq > $3
         ORDER BY seq LIMIT ${LOG_PAGE_ROWS}`,
        [handle, chunk, after],
      );
      if (res.rows.length === 0) return;
      yield res.rows.map((r) => r.body);
      if (res.rows.length < LOG_PAGE_ROWS) return;
      after = res.rows[res.rows.length - 1]!.seq;
    }
  }

  /**
   * Reads the log entries of transactions in `(afterTx, untilTx]` page by page, in order; each
   * entry holds a transaction's messages separated by `\n`.
   */
  async *readLog(handle: string, afterTx: bigint, untilTx: bigint): AsyncGenerator<string[]> {
    let tx = afterTx;
    for (;;) {
      const res = await this.#pool.query<{ tx: string; body: string }>(
        `SELECT tx::text, body FROM ${this.#s}.log
         WHERE handle = $1 AND tx > $2::bigint AND tx <= $3::bigint
         ORDER BY tx LIMIT ${LOG_PAGE_ROWS}`,
        [handle, tx.toString(), untilTx.toString()],
      );
      if (res.rows.length === 0) return;
      yield res.rows.map((r) => r.body);
      if (res.rows.length < LOG_PAGE_ROWS) return;
      tx = BigInt(res.rows[res.rows.length - 1]!.tx);
    }
  }

  /** Writes one ingest batch atomically on `client` (a dedicated connection). */
  async writeIngest(client: pg.PoolClient, write: IngestWrite): Promise<void> {
    const s = this.#s;
    await client.query("BEGIN");
    try {
      if (write.drops.length > 0) await this.#deleteData(client, write.drops);
      // Plain parameters (not array literals): bodies go to Postgres as they are, unescaped.
      for (let from = 0; from < write.entries.length; from += INSERT_ROWS_PER_STATEMENT) {
        const rows = write.entries.slice(from, from + INSERT_ROWS_PER_STATEMENT);
        const values: unknown[] = [];
        const tuples = rows.map((e, i) => {
          values.push(e.handle, e.tx.toString(), e.op, e.body);
          return `($${i * 4 + 1}, $${i * 4 + 2}::bigint, $${i * 4 + 3}::int, $${i * 4 + 4})`;
        });
        await client.query(`INSERT INTO ${s}.log (handle, tx, op, body) VALUES ${tuples.join(", ")}`, values);
      }
      if (write.chunkEnds.length > 0) {
        await client.query(
          `INSERT INTO ${s}.chunks (handle, tx, op)
           SELECT * FROM unnest($1::text[], $2::bigint[], $3::int[]) ON CONFLICT DO NOTHING`,
          [
            write.chunkEnds.map((c) => c.handle),
            write.chunkEnds.map((c) => c.end.tx.toString()),
            write.chunkEnds.map((c) => c.end.op),
          ],
        );
      }
      await client.query(`UPDATE ${s}.progress SET lsn = GREATEST(lsn, $1::bigint) WHERE id = 1`, [
        write.lsn.toString(),
      ]);
      await client.query("COMMIT");
    } catch (err) {
      await client.query("ROLLBACK").catch(() => {});
      throw err;
    }
  }

  async #deleteData(db: pg.Pool | pg.PoolClient, handles: readonly string[]): Promise<void> {
    const s = this.#s;
    await db.query(`UPDATE ${s}.shapes SET status = 'deleted' WHERE handle = ANY($1)`, [handles]);
    await db.query(`DELETE FROM ${s}.log WHERE handle = ANY($1)`, [handles]);
    await db.query(`DELETE FROM ${s}.snapshot_rows WHERE handle = ANY($1)`, [handles]);
    await db.query(`DELETE FROM ${s}.chunks WHERE handle = ANY($1)`, [handles]);
  }
}
