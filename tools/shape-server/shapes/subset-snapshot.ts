/**
 * Subset snapshots (§11): `SELECT` the shape's columns where the shape's where AND the subset's
 * where hold, ordered, limited and offset, in one `REPEATABLE READ READ ONLY` transaction whose
 * `pg_current_snapshot()` and WAL position are returned as metadata, so a client can splice the
 * rows with the change stream. Runs on the snapshot pool (statement timeout, query role).
 */
import { randomInt } from "node:crypto";
import type pg from "pg";
import { DISPLAY_SETTINGS } from "../constants.js";
import { InvalidRequestError } from "../errors.js";
import { quoteRelation } from "../identifiers.js";
import { buildKey, changeMessage, projectRow } from "./messages.js";
import type { Shape } from "./shape.js";
import { selectList } from "./snapshot.js";
import { whereError } from "./where-evaluator.js";
import { checkOrderBy, checkWhere, shiftParams } from "./where-grammar.js";

/** A subset of a shape, as requested. */
export interface Subset {
  /** Extra where clause (Electric's grammar, checked here). */
  readonly where: string | null;
  /** Its `$1..$n` values. */
  readonly params: readonly string[];
  /** `ORDER BY` list of column references. */
  readonly orderBy: string | null;
  /** Row limit. */
  readonly limit: number | null;
  /** Rows skipped. */
  readonly offset: number | null;
}

/** `metadata` of a subset response. */
export interface SubsetMetadata {
  readonly xmin: string;
  readonly xmax: string;
  readonly xip_list: string[];
  /** Random mark, also in each row's headers. */
  readonly snapshot_mark: number;
  /** `pg_current_wal_lsn()` as a decimal string. */
  readonly database_lsn: string;
}

/** Checks a subset against the shape's table; throws Electric's 400 (`errors.subset.*`). */
export function checkSubset(shape: Shape, subset: Subset): void {
  const columns = new Set(shape.table.columns.map((c) => c.name));
  if (subset.where !== null) {
    asSubsetCheck(() => checkWhere(subset.where!, { columns, paramCount: subset.params.length }));
  }
  if (subset.orderBy !== null) asSubsetCheck(() => checkOrderBy(subset.orderBy!, columns));
}

function asSubsetCheck(check: () => unknown): void {
  try {
    check();
  } catch (err) {
    throw asSubsetError(err);
  }
}

/** Electric reports subset errors under `errors.subset.<field>`. */
function asSubsetError(err: unknown): unknown {
  if (!(err instanceof InvalidRequestError)) return err;
  const nested: Record<string, string[]> = {};
  for (const [field, messages] of Object.entries(err.errors)) {
    if (Array.isArray(messages)) nested[field] = messages;
  }
  return new InvalidRequestError({ subset: nested });
}

function subsetSql(shape: Shape, subset: Subset): { text: string; values: string[] } {
  const { sql: columns } = selectList(shape);
  const conditions: string[] = [];
  const shapeParams = shape.definition.params;
  if (shape.definition.where !== null) conditions.push(`(\n${shape.definition.where}\n)`);
  if (subset.where !== null) conditions.push(`(\n${shiftParams(subset.where, shapeParams.length)}\n)`);
  // Rows are chosen, ordered and limited on the table's own columns in an inner query: in the
  // outer one each column is cast to text under its own name, and an ORDER BY there would sort
  // by that text (1, 10, 2). A plain projection of the ordered subquery keeps its order.
  let inner = `SELECT * FROM ${quoteRelation(shape.table.relation)}`;
  if (conditions.length > 0) inner += ` WHERE ${conditions.join(" AND ")}`;
  if (subset.orderBy !== null) inner += `\nORDER BY ${subset.orderBy}\n`;
  if (subset.limit !== null) inner += ` LIMIT ${subset.limit}`;
  if (subset.offset !== null) inner += ` OFFSET ${subset.offset}`;
  const text = `SELECT ${columns} FROM (${inner}) AS subset_rows`;
  return { text, values: [...shapeParams, ...subset.params] };
}

/** Runs a checked subset; returns its metadata and the row messages (JSON text). */
export async function runSubset(
  pool: pg.Pool,
  shape: Shape,
  subset: Subset,
): Promise<{ metadata: SubsetMetadata; rows: string[] }> {
  const client = await pool.connect();
  try {
    await client.query("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY");
    for (const [name, value] of DISPLAY_SETTINGS) await client.query(`SET LOCAL ${name} = '${value}'`);
    const info = await client.query<{ xmin: string; xmax: string; xip: string[]; lsn: string }>(
      `SELECT pg_snapshot_xmin(s)::text AS xmin, pg_snapshot_xmax(s)::text AS xmax,
              ARRAY(SELECT x::text FROM pg_snapshot_xip(s) AS x) AS xip,
              (pg_current_wal_lsn() - '0/0'::pg_lsn)::text AS lsn
       FROM pg_current_snapshot() AS s`,
    );
    const row = info.rows[0]!;
    const mark = randomInt(0, 2 ** 31 - 1);
    const { text, values } = subsetSql(shape, subset);
    let result: pg.QueryResult<string[]>;
    try {
      result = await client.query<string[]>({
        text,
        values,
        rowMode: "array",
        queryMode: "extended",
      } as pg.QueryConfig);
    } catch (err) {
      throw asSubsetError(whereError(err, Number.POSITIVE_INFINITY, values.length > 0));
    }
    await client.query("COMMIT");
    const { names } = selectList(shape);
    const headers = `{"operation":"insert","relation":${JSON.stringify([shape.table.relation.schema, shape.table.relation.table])},"snapshot_mark":${mark}}`;
    const rows = result.rows.map((vals) => {
      const image: Record<string, string | null> = {};
      for (let i = 0; i < names.length; i++) image[names[i]!] = vals[i] ?? null;
      return changeMessage(
        buildKey(shape.keyPrefix, shape.table.keyColumns, image),
        projectRow(shape.quotedSelected, image),
        headers,
      );
    });
    const metadata = {
      xmin: row.xmin,
      xmax: row.xmax,
      xip_list: row.xip,
      snapshot_mark: mark,
      database_lsn: row.lsn,
    };
    return { metadata, rows };
  } catch (err) {
    await client.query("ROLLBACK").catch(() => {});
    throw err;
  } finally {
    client.release();
  }
}
