/**
 * Table names as Postgres (and Electric's `table` parameter) read them: unquoted identifiers are
 * folded to lower case, quoted ones keep their case with `""` as an escaped quote, and a name
 * without a schema is in `public`. So `PgSync.Changes` and `"pgsync"."changes"` are the same
 * table, while `"PgSync".changes` is a different schema.
 */

/** A schema-qualified table name, both parts as Postgres stores them (case folded). */
export interface Relation {
  readonly schema: string;
  readonly table: string;
}

/** Schema Electric (and the bundled shape server) assume for a table named without one. */
export const DEFAULT_SCHEMA = "public";

/**
 * Schemas no tenant may observe, policy or not: pg-sync's own state, the bundled shape server's
 * storage (`electric_shapes`, tools/shape-server) and the system catalogs. Every `pg_*` schema
 * (pg_catalog, pg_toast, pg_temp_N, ...) is reserved as well; see {@link isReservedSchema}.
 */
export const RESERVED_SCHEMAS: readonly string[] = ["pgsync", "electric_shapes", "information_schema"];

/** True for a schema no tenant may observe: {@link RESERVED_SCHEMAS} and every `pg_*` schema. */
export function isReservedSchema(schema: string): boolean {
  return RESERVED_SCHEMAS.includes(schema) || schema.startsWith("pg_");
}

/** Reads one identifier at `text[start]`; returns it (folded unless quoted) and where it ends. */
function readIdentifier(text: string, start: number): { name: string; end: number } | undefined {
  if (text[start] === '"') {
    let name = "";
    let i = start + 1;
    for (;;) {
      if (i >= text.length) return undefined;
      if (text[i] === '"') {
        if (text[i + 1] !== '"') break;
        name += '"';
        i += 2;
        continue;
      }
      name += text[i];
      i++;
    }
    return name === "" ? undefined : { name, end: i + 1 };
  }
  let i = start;
  while (i < text.length && text[i] !== "." && text[i] !== '"') i++;
  const name = text.slice(start, i).trim().toLowerCase();
  return name === "" ? undefined : { name, end: i };
}

/** Parses `name`, `schema.name` or `"Quoted"."Name"`; undefined when it is not a table name. */
export function parseRelation(text: string): Relation | undefined {
  const trimmed = text.trim();
  const first = readIdentifier(trimmed, 0);
  if (!first) return undefined;
  if (first.end === trimmed.length) return { schema: DEFAULT_SCHEMA, table: first.name };
  if (trimmed[first.end] !== ".") return undefined;
  const second = readIdentifier(trimmed, first.end + 1);
  if (!second || second.end !== trimmed.length) return undefined;
  return { schema: first.name, table: second.name };
}

/** `"schema"."table"`, quoted so that it reads back as the same relation. */
export function formatRelation(relation: Relation): string {
  const quote = (name: string) => `"${name.replaceAll('"', '""')}"`;
  return `${quote(relation.schema)}.${quote(relation.table)}`;
}
