/** The `electric-schema` header (§3): each selected column's type, dims, pk index and nullability. */
import type { ColumnInfo, TableInfo } from "./table-info.js";

/** Interval field masks (Postgres `INTERVAL_MASK`). */
const INTERVAL_FIELDS: ReadonlyArray<readonly [number, string]> = [
  [1 << 2, "YEAR"],
  [1 << 1, "MONTH"],
  [1 << 3, "DAY"],
  [1 << 10, "HOUR"],
  [1 << 11, "MINUTE"],
  [1 << 12, "SECOND"],
];
const INTERVAL_FULL_RANGE = 0x7fff;
const INTERVAL_FULL_PRECISION = 0xffff;
const VARHDRSZ = 4;

function intervalFields(mask: number): string | undefined {
  if (mask === INTERVAL_FULL_RANGE) return undefined;
  const names = INTERVAL_FIELDS.filter(([bit]) => (mask & bit) !== 0).map(([, name]) => name);
  if (names.length === 0) return undefined;
  return names.length === 1 ? names[0] : `${names[0]} TO ${names[names.length - 1]}`;
}

function typeModifiers(column: ColumnInfo): Record<string, number | string> {
  const mod = column.typmod;
  if (mod < 0) return {};
  switch (column.typeName) {
    case "varchar":
    case "text":
      return { max_length: mod - VARHDRSZ };
    case "bpchar":
      return { length: mod - VARHDRSZ };
    case "bit":
    case "varbit":
      return { length: mod };
    case "time":
    case "timetz":
    case "timestamp":
    case "timestamptz":
      return { precision: mod };
    case "numeric":
      return { precision: ((mod - VARHDRSZ) >> 16) & 0xffff, scale: (mod - VARHDRSZ) & 0xffff };
    case "interval": {
      const out: Record<string, number | string> = {};
      const fields = intervalFields((mod >> 16) & INTERVAL_FULL_RANGE);
      if (fields) out.fields = fields;
      const precision = mod & 0xffff;
      if (precision !== INTERVAL_FULL_PRECISION) out.precision = precision;
      return out;
    }
    default:
      return { type_mod: mod };
  }
}

/** Builds the header value for the given columns of a table. */
export function buildElectricSchema(table: TableInfo, columns: readonly ColumnInfo[]): string {
  const schema: Record<string, Record<string, unknown>> = {};
  for (const column of columns) {
    const info: Record<string, unknown> = { type: column.typeName, ...typeModifiers(column) };
    if (column.dims > 0) info.dims = column.dims;
    const pkIndex = table.pkColumns.indexOf(column.name);
    if (pkIndex >= 0) info.pk_index = pkIndex;
    if (column.notNull) info.not_null = true;
    schema[column.name] = info;
  }
  return JSON.stringify(schema);
}
