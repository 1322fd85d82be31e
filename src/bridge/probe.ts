import { type Backoff, createBackoff } from "../domain/backoff.js";
import type { LogMode } from "../domain/change-log.js";
import { ShapeProbeFailedError, UnavailableError } from "../domain/errors.js";
import type { CanonicalSourceOptions } from "../domain/source-ref.js";
import { scrubUrl } from "../logger.js";
import { ELECTRIC_HEADERS, ELECTRIC_PARAMS, OFFSET_NOW } from "./electric-constants.js";
import { formatElectricError } from "./electric-error.js";
import { applyShapeParams, shapeParamsFor } from "./shape-params.js";

/** Default probe timeout. */
export const DEFAULT_PROBE_TIMEOUT_MS = 10_000;
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
 * {@link ShapeProbeFailedError} with a reason a user can act on.
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
  const shown = scrubUrl(shapeUrl);
  const deadline = now() + timeoutMs;
  let response: Response;
  let text: string;
  for (let attempt = 0; ; attempt++) {
    const remaining = Math.max(1, deadline - now());
    try {
      response = await fetchFn(url, { signal: AbortSignal.timeout(remaining) });
    } catch (err) {
      const cause = (err as { cause?: { code?: string; message?: string } }).cause;
      const why =
        (err as Error).name === "TimeoutError"
          ? `no answer within ${timeoutMs} ms`
          : (cause?.code ?? cause?.message ?? (err as Error).message);
      throw new ShapeProbeFailedError(`shape endpoint ${shown} is unreachable: ${why}`);
    }
    text = await response.text().catch(() => "");
    if (!isTransient(response.status)) break;
    // Electric answers 503 while it starts and 429 when overloaded: wait within the probe's budget.
    const asked = backoff.retryAfterMs(response.headers.get(ELECTRIC_HEADERS.retryAfter));
    const delay = backoff.delayMs(attempt, Math.min(asked ?? 0, PROBE_MAX_RETRY_AFTER_MS));
    if (now() + delay >= deadline) {
      throw new UnavailableError(
        `shape endpoint ${shown} is temporarily unavailable (${response.status}: ${formatElectricError(response.status, { text })}); retry later`,
      );
    }
    await backoff.sleep(delay);
  }
  if (response.status >= 400) {
    throw new ShapeProbeFailedError(
      `shape endpoint ${shown} rejected the shape (${response.status}): ${formatElectricError(response.status, { text })}`,
      response.status,
    );
  }
  const handle = response.headers.get(ELECTRIC_HEADERS.handle);
  const offset = response.headers.get(ELECTRIC_HEADERS.offset);
  if (!handle || !offset) {
    throw new ShapeProbeFailedError(
      `${shown} answered ${response.status} but is not an Electric shape log (no ${ELECTRIC_HEADERS.handle} header); shape endpoints are usually served at ${new URL(shapeUrl).origin}/v1/shape`,
      response.status,
    );
  }
  return { shapeHandle: handle, shapeOffset: offset, logMode: "changes_only" };
}
