import type { LogBounds } from "./log-entry.js";
import type { TokenPosition } from "./resume-token.js";
import { newSplice, type SpliceState } from "./snapshot-splice.js";
import type { StartPosition } from "./watch-frames.js";

/** Where a stream asks to start one source: from a resume token (its entry, if any) or a position. */
export type StartFrom =
  | {
      /** This source's entry in the resume token; undefined when the token does not name it. */
      readonly token: TokenPosition | undefined;
    }
  | { readonly position: StartPosition };

/** A gap a stream announces before delivering a source. */
export interface StartGap {
  readonly reason: "retention" | "source-reset";
  readonly fromSeq: bigint;
  readonly toSeq: bigint;
  readonly detail: string;
  /** The source's position once this gap is announced (what its frame's token carries). */
  readonly positionAfter: bigint;
  /** True when a snapshot follows this gap (the stream asked for rebuilds); else absent. */
  readonly rebuild?: true;
}

/** How a stream starts one source: the gaps to announce first, then the position to read after. */
export interface StartPlan {
  readonly gaps: readonly StartGap[];
  /** Everything up to this seq counts as delivered; reading starts after it. */
  readonly position: bigint;
  /**
   * A snapshot to deliver (or continue) before the log, spliced at `position`: for
   * START_POSITION_SNAPSHOT, a token taken during a snapshot or its splice, or a rebuild after
   * the plan's last gap. Undefined: read the log as is.
   */
  readonly splice?: SpliceState | undefined;
}

const RESET_DETAIL = "the source was deleted and registered again since the token was issued";
const RETENTION_DETAIL = "the log entries in this range were deleted by retention";

/**
 * Plans the start of one source from its log bounds, its current incarnation and the requested
 * start. A token of another incarnation restarts at 0 with a `source-reset` gap; a token past the
 * head is clamped to it; a source the token does not name starts at the head (it was added to the
 * stream); `now` is the head, `earliest` the oldest retained entry. A start older than the oldest
 * retained entry announces the pruned range as a `retention` gap. `snapshot` starts at the head
 * with a fresh snapshot; a token's splice continues unless a gap comes first. With
 * `rebuildAfterGap`, the last gap is followed by a fresh snapshot. Pure.
 */
export function planStart(
  bounds: LogBounds,
  incarnation: string,
  from: StartFrom,
  rebuildAfterGap = false,
): StartPlan {
  const gaps: StartGap[] = [];
  let position: bigint;
  let splice: SpliceState | undefined;
  if ("token" in from && from.token) {
    splice = from.token.splice;
    position = from.token.seq;
    if (from.token.incarnation !== incarnation) {
      position = 0n;
      gaps.push({ reason: "source-reset", fromSeq: 0n, toSeq: 0n, detail: RESET_DETAIL, positionAfter: 0n });
      splice = undefined;
    } else if (position > bounds.headSeq) {
      position = bounds.headSeq;
    }
  } else if ("token" in from || from.position !== "earliest") {
    position = bounds.headSeq;
    if ("position" in from && from.position === "snapshot") splice = newSplice();
  } else {
    position = bounds.tailSeq > 0n ? bounds.tailSeq - 1n : bounds.headSeq;
  }
  if (bounds.tailSeq > 0n && position + 1n < bounds.tailSeq) {
    const lastPruned = bounds.tailSeq - 1n;
    gaps.push({
      reason: "retention",
      fromSeq: position + 1n,
      toSeq: lastPruned,
      detail: RETENTION_DETAIL,
      positionAfter: lastPruned,
    });
    position = lastPruned;
    splice = undefined;
  }
  const rebuild = rebuildAfterGap && gaps.length > 0;
  if (rebuild) splice = newSplice();
  return {
    gaps: gaps.map((gap, i) => (rebuild && i === gaps.length - 1 ? { ...gap, rebuild: true } : gap)),
    position,
    splice,
  };
}
