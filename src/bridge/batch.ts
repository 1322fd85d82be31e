import { isChangeMessage, isControlMessage, type Message, type Row } from "@electric-sql/client";
import type { NewChange, NewGap } from "../domain/change-log.js";
import { OPERATION_SET as OPERATIONS, type Operation } from "../domain/source-options.js";
import { ELECTRIC_CONTROL } from "./electric-constants.js";

/** What one Electric response batch means for the log. */
export interface ParsedBatch {
  /** Row changes in order. */
  readonly changes: NewChange[];
  /** The batch ends with up-to-date. */
  readonly upToDate: boolean;
  /** The batch carries a must-refetch (the client restarts the shape with a new handle). */
  readonly mustRefetch: boolean;
}

/**
 * The change's Electric offset: `<lsn>_<op_position>` from its headers (what Electric's log
 * offsets are made of). Messages without them (snapshot rows) get the batch's end offset plus
 * their index, which is unique within the source as well.
 */
function changeOffset(headers: Record<string, unknown>, batchOffset: string, index: number): string {
  const lsn = headers.lsn;
  const op = headers.op_position;
  if ((typeof lsn === "string" || typeof lsn === "number") && typeof op === "number") return `${lsn}_${op}`;
  return `${batchOffset}#${index}`;
}

function txidsOf(headers: Record<string, unknown>): string[] {
  const txids = headers.txids;
  return Array.isArray(txids) ? txids.map((t) => String(t)) : [];
}

/** Reads a batch of Electric messages into log entries. */
export function parseBatch(messages: readonly Message<Row<unknown>>[], batchOffset: string): ParsedBatch {
  const changes: NewChange[] = [];
  let upToDate = false;
  let mustRefetch = false;
  messages.forEach((message, index) => {
    if (isControlMessage(message)) {
      const control = message.headers.control;
      if (control === ELECTRIC_CONTROL.upToDate) upToDate = true;
      if (control === ELECTRIC_CONTROL.mustRefetch) mustRefetch = true;
      return;
    }
    if (!isChangeMessage(message)) return; // move-in / move-out events carry no row change
    const headers = message.headers as Record<string, unknown>;
    const operation = headers.operation;
    if (typeof operation !== "string" || !OPERATIONS.has(operation)) return;
    changes.push({
      key: message.key,
      operation: operation as Operation,
      value: message.value as Record<string, unknown>,
      oldValue: (message as { old_value?: Record<string, unknown> }).old_value,
      offset: changeOffset(headers, batchOffset, index),
      txids: txidsOf(headers),
    });
  });
  return { changes, upToDate, mustRefetch };
}

/**
 * The gap a must-refetch leaves: the changes after the last committed position (`previous`, a
 * handle and offset) until the new shape (`handle`) started may be missing.
 */
export function mustRefetchGap(
  previous: { readonly handle: string | undefined; readonly offset: string | undefined },
  handle: string | undefined,
): NewGap {
  return {
    reason: "must-refetch",
    detail: `Electric asked to refetch the shape: changes after offset ${previous.offset ?? "?"} of handle ${previous.handle ?? "?"} until shape ${handle ?? "?"} started may be missing`,
    lastGoodOffset: previous.offset,
    newHandle: handle,
  };
}
