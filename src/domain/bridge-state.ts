import type { SourceState } from "./source.js";

/*
 * The bridge lifecycle, one per (tenant, source_ref). Pure: `transition` returns the next status
 * and the action the bridge's loop performs; the loop does the I/O and reports what happened as
 * the next event. Every way a bridge ends is an event here.
 *
 *                 start                up-to-date committed
 *   (IDLE/STOPPED) ─────▶ STARTING ───────────────────────────▶ LIVE ◀─┐ committed
 *                   open-stream │  ▲                                 │ └─┘ (none)
 *               retryable error │  │ committed (none)                │ retryable error
 *                schedule-retry ▼  │                                 ▼ schedule-retry
 *                           BACKING_OFF ◀────────────────────────────┘
 *                               │  ▲
 *                               └──┘ retry (open-stream, resume from the cursor)
 *
 *   permanent error (any running state) ──▶ FAILED ── register again (a new bridge) ──▶ STARTING
 *   stop (any) ──▶ STOPPED             idle TTL (any running state) ──▶ IDLE
 *   fenced (another owner) / source gone (any running state) ──▶ STOPPED, not persisted
 *
 * FAILED, STOPPED and IDLE end the bridge (action close-stream): only `start` leaves them, and the
 * manager starts a new bridge for that. A fenced bridge persists nothing (the new owner reports
 * the state); a gone source has no row to persist to.
 */

/** What happened to the bridge. */
export type BridgeEvent =
  | { readonly type: "start" }
  | { readonly type: "committed"; readonly upToDate: boolean }
  | { readonly type: "retryable-error"; readonly message: string }
  | { readonly type: "retry" }
  | { readonly type: "permanent-error"; readonly message: string }
  | { readonly type: "fenced"; readonly message: string }
  | { readonly type: "source-gone" }
  | { readonly type: "stop" }
  | { readonly type: "idle" };

/**
 * What the bridge's loop must do after a transition: open (or reopen) the stream from the
 * committed cursor, keep consuming, wait with backoff and then report `retry`, or end.
 */
export type BridgeAction = "open-stream" | "none" | "schedule-retry" | "close-stream";

/** The bridge's state: the source state plus the error that caused it. */
export interface BridgeStatus {
  readonly state: SourceState;
  readonly lastError: string | undefined;
}

/** Result of {@link transition}. */
export interface Transition {
  readonly status: BridgeStatus;
  readonly action: BridgeAction;
  /** True when the state or error changed. */
  readonly changed: boolean;
  /** True when the change must be written to the state database (false once fenced or gone). */
  readonly persist: boolean;
}

/** States that end a bridge; only `start` (a new bridge) leaves them. */
const TERMINAL: ReadonlySet<SourceState> = new Set<SourceState>(["FAILED", "STOPPED", "IDLE"]);

/** True when `status` ends the bridge: FAILED, STOPPED or IDLE. */
export function isTerminal(status: BridgeStatus): boolean {
  return TERMINAL.has(status.state);
}

function to(
  from: BridgeStatus,
  state: SourceState,
  lastError: string | undefined,
  action: BridgeAction,
  persist = true,
): Transition {
  const changed = from.state !== state || from.lastError !== lastError;
  return { status: { state, lastError }, action, changed, persist: persist && changed };
}

/** The next status and action for `event` in `status`. */
export function transition(status: BridgeStatus, event: BridgeEvent): Transition {
  if (event.type === "start") return to(status, "STARTING", undefined, "open-stream");
  if (event.type === "stop") return to(status, "STOPPED", status.lastError, "close-stream");
  // An ended bridge ignores everything else.
  if (isTerminal(status)) return to(status, status.state, status.lastError, "none");
  switch (event.type) {
    case "committed":
      if (event.upToDate) return to(status, "LIVE", undefined, "none");
      // A successful batch after an error clears it, even before the next up-to-date.
      return to(status, status.state === "BACKING_OFF" ? "STARTING" : status.state, undefined, "none");
    case "retryable-error":
      return to(status, "BACKING_OFF", event.message, "schedule-retry");
    case "retry":
      // The error stays visible until a batch commits.
      return to(status, status.state, status.lastError, "open-stream");
    case "permanent-error":
      return to(status, "FAILED", event.message, "close-stream");
    case "fenced":
      return to(status, "STOPPED", event.message, "close-stream", false);
    case "source-gone":
      return to(status, "STOPPED", undefined, "close-stream", false);
    case "idle":
      return to(status, "IDLE", undefined, "close-stream");
  }
}
