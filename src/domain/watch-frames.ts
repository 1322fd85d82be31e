import type { GapReason } from "./change-log.js";
import type { ChangeEntry } from "./log-entry.js";
import type { TokenPosition } from "./resume-token.js";
import type { SourceState } from "./source.js";
import type { Operation } from "./source-options.js";

/** Where a WatchWakes stream starts when it has no resume token. */
export type StartPosition = "now" | "earliest" | "snapshot";

/** Validated WatchWakes options. */
export interface WatchOptions {
  /** Operations that wake; empty = all. */
  readonly ops: ReadonlySet<Operation>;
  /** Trailing debounce; 0 = one wake per change, immediately. */
  readonly debounceMs: number;
  /** Longest a change may be held by debounce; 0 = no bound beyond debounce. */
  readonly maxWaitMs: number;
  /** Largest wake. */
  readonly maxChangesPerWake: number;
  /** Heartbeat interval on an idle stream. */
  readonly heartbeatIntervalMs: number;
  /** After each gap, deliver a fresh snapshot of the source spliced with the log. */
  readonly rebuildAfterGap?: boolean;
  /** A resume token, or a start position. */
  readonly start: { readonly token: string } | { readonly position: StartPosition };
}

/** What a wake carries: its id, source, table, changes and seq range (WatchWakes and groups alike). */
export interface WakeContent {
  readonly wakeId: string;
  readonly sourceRef: string;
  readonly table: string;
  readonly changes: readonly ChangeEntry[];
  readonly firstSeq: bigint;
  readonly lastSeq: bigint;
}

/** Frames a watch session emits, in order. */
export type WatchFrame =
  | { readonly type: "ready"; readonly positions: readonly TokenPosition[]; readonly token: string }
  | (WakeContent & {
      readonly type: "wake";
      /** The changes are snapshot rows. */
      readonly snapshot?: boolean;
      readonly token: string;
    })
  | {
      readonly type: "gap";
      readonly sourceRef: string;
      readonly reason: GapReason;
      readonly fromSeq: bigint;
      readonly toSeq: bigint;
      readonly detail: string;
      /** A snapshot of the source follows (rebuild after gap). */
      readonly rebuild?: boolean;
      readonly token: string;
    }
  | { readonly type: "heartbeat"; readonly token: string; readonly time: Date }
  | {
      readonly type: "status";
      readonly sourceRef: string;
      readonly state: SourceState;
      readonly deleted: boolean;
      readonly reason: string;
      readonly token: string;
    };

/** A frame before its resume token is stamped on (distributes Omit over the union). */
export type UnsealedFrame = WatchFrame extends infer F
  ? F extends WatchFrame
    ? Omit<F, "token">
    : never
  : never;

/** Fixed allowance per frame and per change for fields and framing, in bytes. */
const FRAME_OVERHEAD_BYTES = 64;
const CHANGE_OVERHEAD_BYTES = 48;

/**
 * A cheap estimate of a frame's size in memory and on the wire, used to bound a stream's buffer
 * in bytes: the JSON length of each change's value and old value plus its key and offset, and a
 * fixed allowance for the rest. Computed once, when the frame is queued.
 */
export function estimateFrameBytes(frame: UnsealedFrame): number {
  switch (frame.type) {
    case "wake": {
      let bytes = FRAME_OVERHEAD_BYTES + frame.wakeId.length + frame.table.length;
      for (const c of frame.changes) {
        bytes += CHANGE_OVERHEAD_BYTES + c.key.length + c.offset.length + JSON.stringify(c.value).length;
        if (c.oldValue) bytes += JSON.stringify(c.oldValue).length;
      }
      return bytes;
    }
    case "gap":
      return FRAME_OVERHEAD_BYTES + frame.detail.length;
    case "status":
      return FRAME_OVERHEAD_BYTES + frame.reason.length;
    case "ready":
      return FRAME_OVERHEAD_BYTES * (1 + frame.positions.length);
    case "heartbeat":
      return FRAME_OVERHEAD_BYTES;
  }
}

/**
 * Stable wake id: `<source_ref>-<incarnation>-<first_seq>-<last_seq>`. The incarnation keeps ids
 * unique after the source is deleted and registered again (its seqs restart at 1).
 */
export function wakeIdFor(sourceRef: string, incarnation: string, firstSeq: bigint, lastSeq: bigint): string {
  return `${sourceRef}-${incarnation}-${firstSeq}-${lastSeq}`;
}
