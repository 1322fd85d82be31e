import { Code, type ConnectError } from "@connectrpc/connect";
import type { WatchWakesResponse } from "../gen/pgsync/v1/pg_sync_service_pb.js";
import type { Wake } from "../gen/pgsync/v1/wake_pb.js";

/** First reconnect delay cap in ms (full jitter); the same in every pg-sync client. */
export const DEFAULT_RECONNECT_INITIAL_DELAY_MS = 200;
/** Largest reconnect delay in ms; the same in every pg-sync client. */
export const DEFAULT_RECONNECT_MAX_DELAY_MS = 10_000;
/** Growth of the delay cap per failed attempt. */
const RECONNECT_MULTIPLIER = 2;
/** Trailer carrying the resume token when a stream ends with an error. */
export const RESUME_TOKEN_TRAILER = "pgsync-resume-token";
/** Wake ids remembered per source to drop re-deliveries. */
const SEEN_WAKE_IDS_PER_SOURCE = 10_000;

/**
 * Upper bound in ms of the uniformly random wait before reconnect attempt `attempt` (1-based):
 * `min(maxMs, initialMs * 2^(attempt-1))`.
 */
export function reconnectDelayCapMs(
  attempt: number,
  initialMs = DEFAULT_RECONNECT_INITIAL_DELAY_MS,
  maxMs = DEFAULT_RECONNECT_MAX_DELAY_MS,
): number {
  return Math.min(maxMs, initialMs * RECONNECT_MULTIPLIER ** Math.min(Math.max(attempt - 1, 0), 40));
}

/**
 * Whether a stream that ended with `error` is resumed: UNAVAILABLE always; RESOURCE_EXHAUSTED when
 * it carries a resume token (a slow consumer, not a quota); INTERNAL/UNKNOWN only when this
 * connection had delivered a frame (a broken stream; before a frame they are a real error, often
 * the client's own). Everything else is raised.
 */
export function shouldReconnect(error: ConnectError, gotFrame: boolean): boolean {
  switch (error.code) {
    case Code.Unavailable:
      return true;
    case Code.ResourceExhausted:
      return Boolean(error.metadata.get(RESUME_TOKEN_TRAILER));
    case Code.Internal:
    case Code.Unknown:
      return gotFrame;
    default:
      return false;
  }
}

/** The resume token a frame carries, if any. */
export function tokenOf(frame: WatchWakesResponse): string | undefined {
  return frame.event.case === undefined ? undefined : frame.event.value.resumeToken || undefined;
}

/**
 * What was yielded per source, to drop re-delivered wakes: a wake whose id was seen, or whose
 * seq range ends at or below the highest seq yielded. Forgotten on a source reset or deletion,
 * since seqs then restart.
 */
export class SeenWakes {
  readonly #ids = new Map<string, Set<string>>();
  readonly #high = new Map<string, bigint>();

  /** Records `wake` and reports whether it is new. */
  isNew(wake: Wake): boolean {
    const ref = wake.sourceRef;
    const ids = this.#ids.get(ref) ?? new Set<string>();
    const high = this.#high.get(ref);
    if (ids.has(wake.wakeId) || (high !== undefined && wake.lastSeq <= high)) return false;
    ids.add(wake.wakeId);
    if (ids.size > SEEN_WAKE_IDS_PER_SOURCE) ids.delete(ids.values().next().value as string);
    this.#ids.set(ref, ids);
    this.#high.set(ref, high === undefined || wake.lastSeq > high ? wake.lastSeq : high);
    return true;
  }

  /** Forgets a source (its log restarted or it was deleted). */
  forget(sourceRef: string): void {
    this.#ids.delete(sourceRef);
    this.#high.delete(sourceRef);
  }
}

/** Waits `ms`, or less when `signal` aborts first (then resolves at once, never rejects). */
export function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal?.aborted) return resolve();
    const done = () => {
      clearTimeout(timer);
      signal?.removeEventListener("abort", done);
      resolve();
    };
    const timer = setTimeout(done, ms);
    signal?.addEventListener("abort", done, { once: true });
  });
}
