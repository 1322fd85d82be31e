/**
 * Serialisation of shape log messages (§1.6): keys, values, headers and control messages. Messages
 * are built as JSON text once, stored as text and sent without re-serialisation.
 */
import type { Relation } from "../identifiers.js";
import type { SnapshotInfo } from "../xid.js";

/** A row image: column → text value (output-function text) or null. */
export type RowImage = Readonly<Record<string, string | null | undefined>>;

function escapeRelationPart(part: string): string {
  return part.replaceAll("/", "//").replaceAll(".", "..");
}

/** `"schema"."table"`, the prefix of every key of the relation. */
export function keyPrefix(relation: Relation): string {
  return `"${escapeRelationPart(relation.schema)}"."${escapeRelationPart(relation.table)}"`;
}

/** Electric's key: `<prefix>/"<pk1>"/"<pk2>"`, `/` escaped as `//`, NULL as a bare `_`. */
export function buildKey(prefix: string, keyColumns: readonly string[], row: RowImage): string {
  let key = prefix;
  for (const column of keyColumns) {
    const value = row[column];
    key += value === null || value === undefined ? "/_" : `/"${value.replaceAll("/", "//")}"`;
  }
  return key;
}

/** Serialises the given columns of a row as a JSON object; columns absent from the row are skipped. */
export function projectRow(quotedNames: ReadonlyMap<string, string>, row: RowImage): string {
  let out = "{";
  let first = true;
  for (const [name, quoted] of quotedNames) {
    const value = row[name];
    if (value === undefined) continue;
    out += `${first ? "" : ","}${quoted}:${value === null ? "null" : JSON.stringify(value)}`;
    first = false;
  }
  return `${out}}`;
}

/** Column name → its JSON-quoted form, for {@link projectRow}. */
export function quotedColumns(names: readonly string[]): Map<string, string> {
  return new Map(names.map((name) => [name, JSON.stringify(name)]));
}

/** The headers of snapshot rows of a relation. */
export function snapshotHeaders(relation: Relation): string {
  return JSON.stringify({ operation: "insert", relation: [relation.schema, relation.table] });
}

/** One change message. */
export function changeMessage(key: string, value: string, headers: string, oldValue?: string): string {
  const old = oldValue === undefined ? "" : `,"old_value":${oldValue}`;
  return `{"key":${JSON.stringify(key)},"value":${value}${old},"headers":${headers}}`;
}

/** `{"headers":{"control":"up-to-date","global_last_seen_lsn":"<lsn>"}}`. */
export function upToDateMessage(globalLastSeenLsn: bigint): string {
  return `{"headers":{"control":"up-to-date","global_last_seen_lsn":"${globalLastSeenLsn}"}}`;
}

/** The `snapshot-end` control message appended after the snapshot's last row. */
export function snapshotEndMessage(snapshot: SnapshotInfo): string {
  return JSON.stringify({
    headers: {
      control: "snapshot-end",
      xmin: snapshot.xmin,
      xmax: snapshot.xmax,
      xip_list: snapshot.xipList,
    },
  });
}

/** The body of every 409. */
export const MUST_REFETCH_BODY = '[{"headers":{"control":"must-refetch"}}]';

/** Joins stored entries (messages separated by `\n`) into the inside of a JSON array. */
export function joinAsJson(entries: readonly string[]): string {
  return entries.map((e) => (e.includes("\n") ? e.replaceAll("\n", ",") : e)).join(",");
}
