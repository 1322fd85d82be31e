/**
 * Electric's change semantics for one shape (§1.6, §1.12): where-based move-in (insert with the
 * full row) and move-out (delete), PK changes split into delete + insert, default vs full replica
 * payloads, and updates that change none of the selected columns dropped.
 */
import type { ReplicatedChange } from "../replication/transaction.js";
import { buildKey, changeMessage, projectRow, type RowImage } from "./messages.js";
import type { Shape } from "./shape.js";

/** A message whose `last` header is decided once the whole transaction is converted. */
export interface PendingMessage {
  /** Op offset. */
  readonly op: number;
  /** Serialises the message; `last` marks the final change of the transaction for the shape. */
  serialize(last: boolean): string;
}

/** Transaction-wide header values. */
export interface TxContext {
  /** Commit LSN as decimal text. */
  readonly lsn: string;
  /** Transaction id. */
  readonly xid: number;
}

/** Which row images of a change satisfy the shape's where clause. */
export interface Membership {
  /** The old row was in the shape. */
  readonly old: boolean;
  /** The new row is in the shape. */
  readonly new: boolean;
}

type Operation = "insert" | "update" | "delete";

function message(
  shape: Shape,
  tx: TxContext,
  op: number,
  operation: Operation,
  key: string,
  value: string,
  oldValue?: string,
  extraHeaders = "",
): PendingMessage {
  const relation = JSON.stringify([shape.table.relation.schema, shape.table.relation.table]);
  return {
    op,
    serialize(last: boolean): string {
      const headers =
        `{"operation":"${operation}","relation":${relation},"lsn":"${tx.lsn}","op_position":${op},` +
        `"txids":[${tx.xid}]${extraHeaders}${last ? ',"last":true' : ""}}`;
      return changeMessage(key, value, headers, oldValue);
    },
  };
}

function pick(row: RowImage, names: Iterable<string>): Record<string, string | null> {
  const out: Record<string, string | null> = {};
  for (const name of names) {
    const value = row[name];
    if (value !== undefined) out[name] = value;
  }
  return out;
}

function deleteMessage(shape: Shape, tx: TxContext, op: number, old: RowImage, extra = ""): PendingMessage {
  const key = buildKey(shape.keyPrefix, shape.table.keyColumns, old);
  const value =
    shape.definition.replica === "full"
      ? projectRow(shape.quotedSelected, old)
      : projectRow(shape.quotedKey, old);
  return message(shape, tx, op, "delete", key, value, undefined, extra);
}

function insertMessage(shape: Shape, tx: TxContext, op: number, row: RowImage, extra = ""): PendingMessage {
  const key = buildKey(shape.keyPrefix, shape.table.keyColumns, row);
  return message(shape, tx, op, "insert", key, projectRow(shape.quotedSelected, row), undefined, extra);
}

function updateMessages(
  shape: Shape,
  tx: TxContext,
  op: number,
  old: RowImage | null,
  row: RowImage,
): PendingMessage[] {
  const newKey = buildKey(shape.keyPrefix, shape.table.keyColumns, row);
  const oldKey = old ? buildKey(shape.keyPrefix, shape.table.keyColumns, old) : newKey;
  if (old && oldKey !== newKey) {
    return [
      deleteMessage(shape, tx, op, old, `,"key_change_to":${JSON.stringify(newKey)}`),
      insertMessage(shape, tx, op + 1, row, `,"key_change_from":${JSON.stringify(oldKey)}`),
    ];
  }
  const changed: string[] = [];
  for (const name of shape.quotedSelected.keys()) {
    const next = row[name];
    if (next === undefined) continue;
    if (!old || old[name] !== next) changed.push(name);
  }
  if (changed.length === 0) return [];
  if (shape.definition.replica === "full") {
    const oldValue = old ? JSON.stringify(pick(old, changed)) : undefined;
    return [message(shape, tx, op, "update", newKey, projectRow(shape.quotedSelected, row), oldValue)];
  }
  const names = new Set([...shape.quotedKey.keys(), ...changed]);
  const value = JSON.stringify(
    pick(
      row,
      [...shape.quotedSelected.keys()].filter((n) => names.has(n)),
    ),
  );
  return [message(shape, tx, op, "update", newKey, value)];
}

/** The old row image of an update or delete: the full old row, else the old key, else null. */
export function oldImage(change: ReplicatedChange): RowImage | null {
  if (change.kind !== "update" && change.kind !== "delete") return null;
  return change.old ?? change.key;
}

/** Converts one row change into the shape's messages (none when it does not concern the shape). */
export function convertChange(
  shape: Shape,
  change: ReplicatedChange,
  membership: Membership,
  op: number,
  tx: TxContext,
): PendingMessage[] {
  switch (change.kind) {
    case "insert":
      return membership.new ? [insertMessage(shape, tx, op, change.new)] : [];
    case "delete": {
      const old = oldImage(change);
      return membership.old && old ? [deleteMessage(shape, tx, op, old)] : [];
    }
    case "update": {
      const old = oldImage(change);
      if (membership.old && membership.new) return updateMessages(shape, tx, op, old, change.new);
      if (membership.old) return [deleteMessage(shape, tx, op, old ?? change.new)];
      if (membership.new) return [insertMessage(shape, tx, op, change.new)];
      return [];
    }
    default:
      return [];
  }
}
