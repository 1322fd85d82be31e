/**
 * Postgres identifiers as the `table` and `columns` parameters carry them: unquoted names are
 * downcased, quoted ones keep their case with `""` as an escaped quote.
 */

/** A schema-qualified table name. */
export interface Relation {
  readonly schema: string;
  readonly table: string;
}

/** Quotes an identifier for SQL. */
export function quoteIdent(name: string): string {
  return `"${name.replaceAll('"', '""')}"`;
}

/** `"schema"."table"` for SQL. */
export function quoteRelation(relation: Relation): string {
  return `${quoteIdent(relation.schema)}.${quoteIdent(relation.table)}`;
}

/**
 * Splits `text` on `separator` outside double quotes and parses each part as an identifier.
 * Returns an error message instead when the text is malformed.
 */
function splitIdentifiers(text: string, separator: string): string[] | string {
  const parts: string[] = [];
  let i = 0;
  for (;;) {
    let name = "";
    while (text[i] === " ") i++;
    if (text[i] === '"') {
      i++;
      for (;;) {
        if (i >= text.length) return "Invalid unterminated quoted identifier";
        if (text[i] === '"') {
          if (text[i + 1] === '"') {
            name += '"';
            i += 2;
            continue;
          }
          i++;
          break;
        }
        name += text[i];
        i++;
      }
      if (name === "") return "Invalid zero-length delimited identifier";
      while (text[i] === " ") i++;
    } else {
      const start = i;
      while (i < text.length && text[i] !== separator) {
        if (text[i] === '"') return `Invalid identifier: ${text}`;
        i++;
      }
      name = text.slice(start, i).trim().toLowerCase();
      if (name === "") return `Invalid empty identifier in ${JSON.stringify(text)}`;
    }
    parts.push(name);
    if (i >= text.length) return parts;
    if (text[i] !== separator) return `Invalid identifier: ${text}`;
    i++;
  }
}

/** Parses `name`, `schema.name` or `"Quoted"."Name"`; returns an error message when invalid. */
export function parseRelation(text: string): Relation | string {
  const parts = splitIdentifiers(text.trim(), ".");
  if (typeof parts === "string") return parts;
  if (parts.length === 1) return { schema: "public", table: parts[0]! };
  if (parts.length === 2) return { schema: parts[0]!, table: parts[1]! };
  return `Invalid table name: ${text}`;
}

/** Parses a comma-separated column list; returns an error message when invalid. */
export function parseColumnList(text: string): string[] | string {
  const parts = splitIdentifiers(text.trim(), ",");
  if (typeof parts === "string") return parts;
  const seen = new Set<string>();
  for (const part of parts) {
    if (seen.has(part)) return `Duplicate column: ${part}`;
    seen.add(part);
  }
  return parts;
}
