import type { GapReason } from "./change-log.js";
import type { Operation } from "./source-options.js";

/** A change read back from a source's log. */
export interface ChangeEntry {
  readonly kind: "change";
  readonly seq: bigint;
  readonly key: string;
  readonly operation: Operation;
  readonly value: Record<string, unknown>;
  readonly oldValue: Record<string, unknown> | undefined;
  readonly offset: string;
  readonly txids: readonly string[];
  /** True for a snapshot row (not a logged change): the row as of the snapshot, as an insert. */
  readonly snapshot?: boolean;
}

/** A gap read back from a source's log. */
export interface GapEntry {
  readonly kind: "gap";
  readonly seq: bigint;
  readonly reason: GapReason;
  readonly detail: string;
}

/** A log entry. */
export type LogEntry = ChangeEntry | GapEntry;

/** Bounds of a source's log. */
export interface LogBounds {
  /** Newest seq; 0 when the log is empty. */
  readonly headSeq: bigint;
  /** Oldest retained seq; 0 when the log is empty. */
  readonly tailSeq: bigint;
}

/**
 * What a log notification says. Notifications are hints from a channel any database role can
 * write to: they say where to look again, never what is true. A reader re-reads the log or the
 * source before acting.
 */
export type LogEvent =
  | {
      /** The log may have grown to `headSeq`: read it again. */
      readonly type: "appended";
      readonly tenant: string;
      readonly sourceRef: string;
      readonly headSeq: bigint;
    }
  | {
      /** The source's row may have changed (state, deletion): read it again. */
      readonly type: "source";
      readonly tenant: string;
      readonly sourceRef: string;
    }
  /** The notification channel reconnected: anything may have been missed; re-read. */
  | { readonly type: "resync" };
