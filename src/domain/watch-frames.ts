import type { GapReason } from "./change-log.js";
import type { ChangeEntry } from "./log-entry.js";
import type { TokenPosition } from "./resume-token.js";
import type { SourceState } from "./source.js";
import type { Operation } from "./source-options.js";

/** Where a WatchWakes stream starts when it has no resume token. */
export type StartPosition = "now" | "earliest";

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
  /** A resume token, or a start position. */
  readonly start: { readonly token: string } | { readonly position: StartPosition };
}

/** Frames a watch session emits, in order. */
export type WatchFrame =
  | { readonly type: "ready"; readonly positions: readonly TokenPosition[]; readonly token: string }
  | {
      readonly type: "wake";
      readonly wakeId: string;
      readonly sourceRef: string;
      readonly table: string;
      readonly changes: readonly ChangeEntry[];
      readonly firstSeq: bigint;
      readonly lastSeq: bigint;
      readonly token: string;
    }
  | {
      readonly type: "gap";
      readonly sourceRef: string;
      readonly reason: GapReason;
      readonly fromSeq: bigint;
      readonly toSeq: bigint;
      readonly detail: string;
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

/** Stable wake id: source and seq range. */
export function wakeIdFor(sourceRef: string, firstSeq: bigint, lastSeq: bigint): string {
  return `${sourceRef}-${firstSeq}-${lastSeq}`;
}
