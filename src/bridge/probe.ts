import { type Backoff, createBackoff } from "../domain/backoff.js";
import type { LogMode } from "../domain/change-log.js";
import { ShapeProbeFailedError, UnavailableError } from "../domain/errors.js";
import type { CanonicalSourceOptions } from "../domain/source-ref.js";
import { DEFAULT_CONFIG } from "../settings.js";
import { ELECTRIC_HEADERS, ELECTRIC_PARAMS, OFFSET_NOW } from "./electric-constants.js";
import { formatElectricError, invalidOptionsFrom } from "./electric-error.js";
import {
  createElectricFetch,
  NotAShapeEndpointError,
  readBodyCapped,
  ShapeEndpointRedirectError,
} from "./electric-fetch.js";
import { applyShapeParams, shapeParamsFor } from "./shape-params.js";

/** Default probe timeout (from the settings table). */
export const DEFAULT_PROBE_TIMEOUT_MS = DEFAULT_CONFIG.probeTimeoutMs;
/** Most of an error body the probe reads (the rest is discarded unread). */
export const PROBE_BODY_MAX_BYTES = 64 * 1024;

/** Longest server-asked wait (`Retry-After`) the probe honours between attempts. */
const PROBE_MAX_RETRY_AFTER_MS = 5_000;

/** The probe's retry delays: 100 ms doubling to 1 s (full jitter), within its time budget. */
export const PROBE_BACKOFF_OPTIONS = { initialDelayMs: 100, maxDelayMs: 1_000, multiplier: 2 } as const;

/** Statuses worth another try within the probe's time budget. */
function isTransient(status: number): boolean {
  return status === 429 || status === 502 || status === 503 || status === 504;
}

/** The first cursor of a fresh source, from the probe's response. */
export interface ProbeResult {
  readonly shapeHandle: string;
  readonly shapeOffset: string;
  readonly logMode: LogMode;
}

/** Options of {@link probeShape}. */
export interface ProbeOptions {
  /** The probe's whole time budget, retries included. Default {@link DEFAULT_PROBE_TIMEOUT_MS}. */
  readonly timeoutMs?: number;
  /** Fetch; injected by tests. Default global fetch. */
  readonly fetchFn?: typeof fetch;
  /** Retry delays for 429/502/503/504. Default {@link PROBE_BACKOFF_OPTIONS}. */
  readonly backoff?: Backoff;
  /** Clock in epoch ms, for the time budget. Default Date.now. */
  readonly now?: () => number;
}

/**
 * Asks the shape endpoint for the source's shape at `offset=now` with `log=changes_only`, exactly
 * as the bridge will request it. Success gives the fresh source's first cursor (persisted before
 * RegisterSource returns, so nothing committed afterwards is skipped). Failure is a
 * {@link ShapeProbeFailedError} with a reason a user can act on, or, when Electric's 400 names the
 * where clause, columns or params, an {@link InvalidSourceOptionsError} naming that option with
 * Electric's message. Redirects are never followed, bodies are read up to
 * {@link PROBE_BODY_MAX_BYTES}, and messages never show the URL (the server's default endpoint is
 * internal) nor, for an unreachable endpoint, the network cause (which would map the internal
 * network for a tenant).
 */
export async function probeShape(
  shapeUrl: string,
  options: CanonicalSourceOptions,
  {
    timeoutMs = DEFAULT_PROBE_TIMEOUT_MS,
    fetchFn = fetch,
    backoff = createBackoff(PROBE_BACKOFF_OPTIONS),
    now = Date.now,
  }: ProbeOptions = {},
): Promise<ProbeResult> {
  const url = applyShapeParams(new URL(shapeUrl), shapeParamsFor(options), "changes_only");
  url.searchParams.set(ELECTRIC_PARAMS.offset, OFFSET_NOW);
  const electricFetch = createElectricFetch(fetchFn);
  const deadline = now() + timeoutMs;
  for (let attempt = 0; ; attempt++) {
    const response = await request(electricFetch, url, Math.max(1, deadline - now()));
    if (response.ok) {
      await response.body?.cancel().catch(() => {});
      return {
        shapeHandle: response.headers.get(ELECTRIC_HEADERS.handle) as string,
        shapeOffset: response.headers.get(ELECTRIC_HEADERS.offset) as string,
        logMode: "changes_only",
      };
    }
    const text = await readBodyCapped(response, PROBE_BODY_MAX_BYTES);
    const detail = formatElectricError(response.status, { text });
    if (!isTransient(response.status)) {
      // A bad where, column or parameter is the caller's to fix: INVALID_ARGUMENT naming the option.
      throw (
        invalidOptionsFrom(response.status, text, options) ??
        new ShapeProbeFailedError(`rejected the shape (${response.status}): ${detail}`, response.status)
      );
    }
    // Electric answers 503 while it starts and 429 when overloaded: wait within the probe's budget.
    const asked = backoff.retryAfterMs(response.headers.get(ELECTRIC_HEADERS.retryAfter));
    const delay = backoff.delayMs(attempt, Math.min(asked ?? 0, PROBE_MAX_RETRY_AFTER_MS));
    if (now() + delay >= deadline) {
      throw new UnavailableError(
        `the shape endpoint is temporarily unavailable (${response.status}: ${detail}); retry later`,
      );
    }
    await backoff.sleep(delay);
  }
}

/** One probe request; a redirect, a non-shape answer or no answer become a ShapeProbeFailedError. */
async function request(electricFetch: typeof fetch, url: URL, timeoutMs: number): Promise<Response> {
  try {
    return await electricFetch(url, { signal: AbortSignal.timeout(timeoutMs) });
  } catch (err) {
    if (err instanceof ShapeEndpointRedirectError) {
      throw new ShapeProbeFailedError(
        `answered ${err.status} (a redirect); pg-sync does not follow redirects, so the source's url must name the endpoint itself`,
        err.status,
      );
    }
    if (err instanceof NotAShapeEndpointError) {
      throw new ShapeProbeFailedError(
        `answered ${err.status} but is not an Electric shape log (no ${ELECTRIC_HEADERS.handle} header); Electric serves shapes at the path /v1/shape`,
        err.status,
      );
    }
    // ECONNREFUSED, ENOTFOUND, timeouts: one answer, so a tenant cannot map hosts and ports.
    throw new ShapeProbeFailedError("is unreachable");
  }
}
