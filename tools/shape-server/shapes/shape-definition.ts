/**
 * A shape's definition: everything in a request except offset, handle, live and cursor. Requests
 * with equal definitions share one shape and one handle.
 */
import { createHash } from "node:crypto";
import type { Relation } from "../identifiers.js";

/** Payload shape of updates and deletes (§1.6). */
export type ReplicaMode = "default" | "full";
/** Whether the initial snapshot carries rows (§1.7). */
export type LogMode = "full" | "changes_only";

/** The identity of a shape. */
export interface ShapeDefinition {
  /** Table. */
  readonly relation: Relation;
  /** SQL boolean expression over the table's columns, or null for all rows. */
  readonly where: string | null;
  /** Values of `$1..$n` in `where`, in order. */
  readonly params: readonly string[];
  /** Selected columns (table order is not implied), or null for all. */
  readonly columns: readonly string[] | null;
  /** `replica` parameter. */
  readonly replica: ReplicaMode;
  /** `log` parameter. */
  readonly log: LogMode;
}

/** A canonical string of the definition; equal definitions have equal keys. */
export function definitionKey(definition: ShapeDefinition): string {
  return JSON.stringify([
    definition.relation.schema,
    definition.relation.table,
    definition.where,
    definition.params,
    definition.columns,
    definition.replica,
    definition.log,
  ]);
}

let lastHandleMicros = 0;

/**
 * A new handle `<hash of definition>-<unix µs>`, as Electric's `Shape.generate_id/1`. The
 * timestamp part strictly increases within the process, so a handle is never handed out twice.
 */
export function generateHandle(definition: ShapeDefinition): string {
  const hash = createHash("sha1").update(definitionKey(definition)).digest().readUInt32BE(0) >>> 5;
  const micros = Math.max(Date.now() * 1000, lastHandleMicros + 1);
  lastHandleMicros = micros;
  return `${hash}-${micros}`;
}

/** Makes later handles sort after `handle` (called for stored handles at startup). */
export function observeHandle(handle: string): void {
  const micros = Number(handle.slice(handle.lastIndexOf("-") + 1));
  if (Number.isSafeInteger(micros) && micros > lastHandleMicros) lastHandleMicros = micros;
}
