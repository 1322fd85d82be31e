/** What the shape server needs to know about a table, read from the Postgres catalogs. */
import type pg from "pg";
import { InvalidRequestError } from "../errors.js";
import type { Relation } from "../identifiers.js";

/** One column of a table. */
export interface ColumnInfo {
  /** Column name. */
  readonly name: string;
  /** OID of the column's type. */
  readonly typeOid: number;
  /** `pg_type.typname` of the column, or of its element type for arrays (Electric's `type`). */
  readonly typeName: string;
  /** Array dimensions; 0 for scalars. */
  readonly dims: number;
  /** NOT NULL constraint. */
  readonly notNull: boolean;
  /** `atttypmod`, -1 when none. */
  readonly typmod: number;
  /** A scalar `json` or `jsonb` column. */
  readonly isJson: boolean;
  /** A scalar `bpchar` column (the snapshot keeps its padding with `concat`). */
  readonly isBpchar: boolean;
}

/** A table's identity, columns and keys. */
export interface TableInfo {
  /** `pg_class.oid`. */
  readonly oid: number;
  /** Schema and name. */
  readonly relation: Relation;
  /** Columns in table order. */
  readonly columns: readonly ColumnInfo[];
  /** Primary key columns in key order; empty when the table has none. */
  readonly pkColumns: readonly string[];
  /** Columns of the Electric key: the primary key, or all columns sorted by name. */
  readonly keyColumns: readonly string[];
  /** `REPLICA IDENTITY FULL` is set. */
  readonly replicaIdentityFull: boolean;
}

const TABLE_SQL = `
SELECT c.oid::int AS oid, c.relreplident AS replident
FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE n.nspname = $1 AND c.relname = $2 AND c.relkind IN ('r', 'p')`;

const COLUMNS_SQL = `
SELECT a.attname AS name, a.atttypid::int AS type_oid, a.atttypmod AS typmod, a.attndims AS ndims,
       a.attnotnull AS not_null, t.typname AS typname, t.typcategory AS category,
       et.typname AS elem_typname
FROM pg_attribute a
JOIN pg_type t ON t.oid = a.atttypid
LEFT JOIN pg_type et ON et.oid = t.typelem AND t.typcategory = 'A'
WHERE a.attrelid = $1 AND a.attnum > 0 AND NOT a.attisdropped
ORDER BY a.attnum`;

const PK_SQL = `
SELECT a.attname AS name
FROM pg_index i
CROSS JOIN LATERAL unnest(i.indkey) WITH ORDINALITY AS k(attnum, ord)
JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = k.attnum
WHERE i.indrelid = $1 AND i.indisprimary
ORDER BY k.ord`;

interface ColumnRow {
  name: string;
  type_oid: number;
  typmod: number;
  ndims: number;
  not_null: boolean;
  typname: string;
  category: string;
  elem_typname: string | null;
}

/** The error Electric gives for a table that does not exist. */
export function unknownTableError(relation: Relation): InvalidRequestError {
  return InvalidRequestError.field(
    "table",
    `Table "${relation.schema}"."${relation.table}" does not exist. If the table name contains capitals or special characters you must quote it.`,
  );
}

/** Reads a table's description; throws {@link InvalidRequestError} when it does not exist. */
export async function loadTableInfo(db: pg.Pool | pg.PoolClient, relation: Relation): Promise<TableInfo> {
  const table = await db.query<{ oid: number; replident: string }>(TABLE_SQL, [
    relation.schema,
    relation.table,
  ]);
  const row = table.rows[0];
  if (!row) throw unknownTableError(relation);
  const [columns, pk] = await Promise.all([
    db.query<ColumnRow>(COLUMNS_SQL, [row.oid]),
    db.query<{ name: string }>(PK_SQL, [row.oid]),
  ]);
  const infos = columns.rows.map((c): ColumnInfo => {
    const isArray = c.category === "A" && c.elem_typname !== null;
    return {
      name: c.name,
      typeOid: c.type_oid,
      typeName: isArray ? c.elem_typname! : c.typname,
      dims: isArray ? Math.max(c.ndims, 1) : 0,
      notNull: c.not_null,
      typmod: c.typmod,
      isJson: !isArray && (c.typname === "json" || c.typname === "jsonb"),
      isBpchar: !isArray && c.typname === "bpchar",
    };
  });
  const pkColumns = pk.rows.map((r) => r.name);
  const keyColumns = pkColumns.length > 0 ? pkColumns : infos.map((c) => c.name).sort();
  return {
    oid: row.oid,
    relation,
    columns: infos,
    pkColumns,
    keyColumns,
    replicaIdentityFull: row.replident === "f",
  };
}

/** Names and type OIDs of the columns, to notice schema changes announced by replication. */
export function columnSignature(columns: ReadonlyArray<{ name: string; typeOid: number }>): string {
  return columns.map((c) => `${c.name}:${c.typeOid}`).join(",");
}
