/**
 * The initial snapshot of a shape: one `REPEATABLE READ READ ONLY` transaction records
 * `pg_current_snapshot()` (which the ingest uses to skip replicated transactions the snapshot
 * already holds), then streams the rows through a cursor into storage, chunk by chunk, so memory
 * stays bounded by one fetch.
 */
import type pg from "pg";
import type { Logger } from "pino";
import { DISPLAY_SETTINGS, SNAPSHOT_FETCH_ROWS } from "../constants.js";
import { quoteIdent, quoteRelation } from "../identifiers.js";
import type { ShapeStore, SnapshotRow } from "../storage/shape-store.js";
import { buildKey, changeMessage, projectRow, type RowImage } from "./messages.js";
import type { Shape } from "./shape.js";

/** What a snapshot needs. */
export interface SnapshotDeps {
  /** Pool for the snapshot transaction (not the storage pool: rows are written through `store`). */
  readonly pool: pg.Pool;
  /** Where rows are stored. */
  readonly store: ShapeStore;
  /** Bytes per snapshot chunk. */
  readonly chunkBytesThreshold: number;
  /** Logger. */
  readonly logger: Logger;
  /** Aborted at shutdown: the copy stops between fetches. */
  readonly signal: AbortSignal;
}

const CURSOR = "__electric_snapshot";

/** The snapshot's select list (selected and key columns as output-function text) and its names. */
export function selectList(shape: Shape): { sql: string; names: string[] } {
  const wanted = new Set([...shape.selected.map((c) => c.name), ...shape.table.keyColumns]);
  const columns = shape.table.columns.filter((c) => wanted.has(c.name));
  const parts = columns.map((c) => {
    const ident = quoteIdent(c.name);
    return c.isBpchar
      ? `CASE WHEN ${ident} IS NULL THEN NULL ELSE concat(${ident}, '') END`
      : `${ident}::text`;
  });
  return { sql: parts.join(", "), names: columns.map((c) => c.name) };
}

/**
 * Runs the snapshot of `shape`: resolves `shape.snapshotStarted()` as soon as the snapshot's
 * visibility is known, then stores the rows and marks the shape complete (or failed).
 */
export async function runSnapshot(shape: Shape, deps: SnapshotDeps): Promise<void> {
  let client: pg.PoolClient | undefined;
  let started = false;
  try {
    client = await deps.pool.connect();
    await client.query("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY");
    const info = await client.query<{ xmin: string; xmax: string; xip: string[] }>(
      `SELECT pg_snapshot_xmin(s)::text AS xmin, pg_snapshot_xmax(s)::text AS xmax,
              ARRAY(SELECT x::text FROM pg_snapshot_xip(s) AS x) AS xip
       FROM pg_current_snapshot() AS s`,
    );
    const row = info.rows[0]!;
    const snapshot = { xmin: row.xmin, xmax: row.xmax, xipList: row.xip };
    shape.setSnapshotInfo(snapshot);
    started = true;
    let chunks = 1;
    if (shape.definition.log === "full") {
      for (const [name, value] of DISPLAY_SETTINGS) {
        await client.query(`SET LOCAL ${name} = '${value}'`);
      }
      chunks = await copyRows(client, shape, deps);
    }
    await client.query("COMMIT");
    await deps.store.markReady(shape.handle, snapshot, chunks);
    shape.snapshotDone(chunks);
    deps.logger.debug({ shape_handle: shape.handle, chunks }, "snapshot complete");
  } catch (err) {
    if (client) await client.query("ROLLBACK").catch(() => {});
    deps.logger.warn({ err, shape_handle: shape.handle, started }, "snapshot failed");
    shape.snapshotFailed(err);
  } finally {
    client?.release();
  }
}

async function copyRows(client: pg.PoolClient, shape: Shape, deps: SnapshotDeps): Promise<number> {
  const { sql: columns, names } = selectList(shape);
  const where = shape.definition.where === null ? "" : ` WHERE (\n${shape.definition.where}\n)`;
  await client.query({
    text: `DECLARE ${CURSOR} NO SCROLL CURSOR FOR SELECT ${columns} FROM ${quoteRelation(shape.table.relation)}${where}`,
    values: [...shape.definition.params],
    queryMode: "extended",
  } as pg.QueryConfig);
  let chunk = 0;
  let chunkBytes = 0;
  let seq = 0;
  for (;;) {
    if (shape.gone) throw new Error("shape was removed during its snapshot");
    if (deps.signal.aborted) throw new Error("server is shutting down");
    const res = await client.query<string[]>({
      text: `FETCH ${SNAPSHOT_FETCH_ROWS} FROM ${CURSOR}`,
      rowMode: "array",
    });
    if (res.rows.length === 0) break;
    const rows: SnapshotRow[] = [];
    for (const values of res.rows) {
      const image: Record<string, string | null> = {};
      for (let i = 0; i < names.length; i++) image[names[i]!] = values[i] ?? null;
      const body = snapshotRowMessage(shape, image);
      if (chunkBytes >= deps.chunkBytesThreshold) {
        chunk++;
        chunkBytes = 0;
      }
      rows.push({ chunk, seq: seq++, body });
      chunkBytes += body.length;
    }
    await deps.store.writeSnapshotRows(shape.handle, rows);
    shape.snapshotChunksStored(chunkBytes >= deps.chunkBytesThreshold ? chunk + 1 : chunk);
    if (res.rows.length < SNAPSHOT_FETCH_ROWS) break;
  }
  return chunk + 1;
}

function snapshotRowMessage(shape: Shape, row: RowImage): string {
  return changeMessage(
    buildKey(shape.keyPrefix, shape.table.keyColumns, row),
    projectRow(shape.quotedSelected, row),
    shape.snapshotHeaders,
  );
}
