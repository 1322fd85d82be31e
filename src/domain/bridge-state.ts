import type { SourceState } from "./source.js";

/*
 * The bridge lifecycle, one per (tenant, source_ref). Pure: `transition` returns the next state
 * and the action the bridge performs; the bridge does the I/O.
 *
 *                 start                up-to-date committed
 *   (IDLE/STOPPED) ─────▶ STARTING ───────────────────────────▶ LIVE
 *                            │  ▲                                 │
 *          retryable error   │  │ retry (resume from cursor)      │ retryable error
 *                            ▼  │                                 ▼
 *                        BACKING_OFF ◀────────────────────────────┘
 *                            │
 *   permanent error (any)    ▼
 *   ──────────────────────▶ FAILED ── register again ──▶ STARTING
 *
 *   stop (any state) ──▶ STOPPED        idle TTL (any but FAILED, STOPPED) ──▶ IDLE
 */

/** What happened to the bridge. */
export type BridgeEvent =
  | { readonly type: "start" }
  | { readonly type: "committed"; readonly upToDate: boolean }
  | { readonly type: "retryable-error"; readonly message: string }
  | { readonly type: "permanent-error"; readonly message: string }
  | { readonly type: "stop" }
  | { readonly type: "idle" };

/** What the bridge must do after a transition. */
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
  /** True when the state or error changed (so it must be persisted). */
  readonly changed: boolean;
}

function to(
  from: BridgeStatus,
  state: SourceState,
  lastError: string | undefined,
  action: BridgeAction,
): Transition {
  const changed = from.state !== state || from.lastError !== lastError;
  return { status: { state, lastError }, action, changed };
}

/** The next status and action for `event` in `status`. */
export function transition(status: BridgeStatus, event: BridgeEvent): Transition {
  switch (event.type) {
    case "start":
      return to(status, "STARTING", undefined, "open-stream");
    case "committed":
      if (status.state === "STOPPED" || status.state === "IDLE" || status.state === "FAILED") {
        return to(status, status.state, status.lastError, "none");
      }
      if (event.upToDate) return to(status, "LIVE", undefined, "none");
      // A successful batch after an error clears it, even before the next up-to-date.
      return to(status, status.state === "BACKING_OFF" ? "STARTING" : status.state, undefined, "none");
    case "retryable-error":
      if (status.state === "STOPPED" || status.state === "IDLE")
        return to(status, status.state, status.lastError, "none");
      return to(status, "BACKING_OFF", event.message, "schedule-retry");
    case "permanent-error":
      if (status.state === "STOPPED" || status.state === "IDLE")
        return to(status, status.state, status.lastError, "none");
      return to(status, "FAILED", event.message, "close-stream");
    case "stop":
      return to(status, "STOPPED", status.lastError, "close-stream");
    case "idle":
      if (status.state === "FAILED" || status.state === "STOPPED")
        return to(status, status.state, status.lastError, "none");
      return to(status, "IDLE", undefined, "close-stream");
  }
}
