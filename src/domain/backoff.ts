import { DEFAULT_CONFIG } from "../settings.js";

/** Options of {@link createBackoff}; every duration in milliseconds. */
export interface BackoffOptions {
  /** First delay cap. Default 250 ms. */
  readonly initialDelayMs?: number;
  /** Largest delay cap. Default 30_000 ms. */
  readonly maxDelayMs?: number;
  /** Growth of the cap per attempt. Default 2. */
  readonly multiplier?: number;
  /** Random source in [0, 1); injected for tests. Default Math.random. */
  readonly random?: () => number;
  /** Sleep; injected for tests. Default an abortable timer. */
  readonly sleep?: (ms: number, signal?: AbortSignal) => Promise<void>;
  /** Clock in epoch ms, for `Retry-After` dates; injected for tests. Default Date.now. */
  readonly now?: () => number;
}

/** Default first delay cap (the `PGSYNC_BACKOFF_INITIAL_MS` default). */
export const DEFAULT_BACKOFF_INITIAL_DELAY_MS: number = DEFAULT_CONFIG.backoffInitialMs;
/** Default largest delay cap (the `PGSYNC_BACKOFF_MAX_MS` default). */
export const DEFAULT_BACKOFF_MAX_DELAY_MS: number = DEFAULT_CONFIG.backoffMaxMs;
/** Default growth per attempt. */
export const DEFAULT_BACKOFF_MULTIPLIER = 2;

/** Exponential backoff with full jitter: the only backoff implementation in pg-sync. */
export interface Backoff {
  /** Delay before retry number `attempt` (0-based), at least `floorMs` (a server's Retry-After). */
  delayMs(attempt: number, floorMs?: number): number;
  /** Sleeps for {@link delayMs}; resolves early (without throwing) when `signal` aborts. Returns the delay. */
  wait(attempt: number, signal?: AbortSignal, floorMs?: number): Promise<number>;
  /** The injected sleep (abortable), for callers that check a delay before waiting it. */
  sleep(ms: number, signal?: AbortSignal): Promise<void>;
  /** A server's `Retry-After` (seconds or an HTTP date) in ms from now; undefined when absent or unreadable. */
  retryAfterMs(value: string | null | undefined): number | undefined;
}

/** A `Retry-After` value (seconds or an HTTP date) in ms from `now`; undefined when absent or unreadable. */
export function parseRetryAfterMs(
  value: string | null | undefined,
  now: () => number = Date.now,
): number | undefined {
  if (!value) return undefined;
  const seconds = Number(value);
  if (Number.isFinite(seconds)) return Math.max(0, seconds * 1000);
  const date = Date.parse(value);
  return Number.isFinite(date) ? Math.max(0, date - now()) : undefined;
}

/**
 * Sleeps `ms`, resolving early when `signal` aborts; removes its timer and listener either way.
 */
export function abortableSleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal?.aborted) return resolve();
    const onAbort = () => {
      clearTimeout(timer);
      resolve();
    };
    const timer = setTimeout(() => {
      signal?.removeEventListener("abort", onAbort);
      resolve();
    }, ms);
    signal?.addEventListener("abort", onAbort, { once: true });
  });
}

/**
 * Creates a full-jitter exponential backoff: delay = max(floor, random() * min(max, initial * mult^attempt)).
 * Used by the bridges, the registration probe and the notifier alike.
 */
export function createBackoff(options: BackoffOptions = {}): Backoff {
  const initial = options.initialDelayMs ?? DEFAULT_BACKOFF_INITIAL_DELAY_MS;
  const max = options.maxDelayMs ?? DEFAULT_BACKOFF_MAX_DELAY_MS;
  const multiplier = options.multiplier ?? DEFAULT_BACKOFF_MULTIPLIER;
  const random = options.random ?? Math.random;
  const sleep = options.sleep ?? abortableSleep;
  const now = options.now ?? Date.now;
  const delayMs = (attempt: number, floorMs = 0): number => {
    const cap = Math.min(max, initial * multiplier ** Math.max(0, Math.min(attempt, 60)));
    return Math.max(floorMs, Math.floor(random() * cap));
  };
  return {
    delayMs,
    async wait(attempt, signal, floorMs) {
      const ms = delayMs(attempt, floorMs);
      await sleep(ms, signal);
      return ms;
    },
    sleep,
    retryAfterMs: (value) => parseRetryAfterMs(value, now),
  };
}
