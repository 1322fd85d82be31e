import type { LogMode } from "../domain/change-log.js";
import { ShapeProbeFailedError, UnavailableError } from "../domain/errors.js";
import type { CanonicalSourceOptions } from "../domain/source-ref.js";
import { scrubUrl } from "../logger.js";
import { parseRetryAfterMs } from "./classify-error.js";
import { ELECTRIC_HEADERS, ELECTRIC_PARAMS, OFFSET_NOW } from "./electric-constants.js";
import { applyShapeParams, shapeParamsFor } from "./shape-params.js";

/** Default probe timeout. */
export const DEFAULT_PROBE_TIMEOUT_MS = 10_000;
/** Longest part of an endpoint's error body quoted back to the caller. */
const PROBE_BODY_MAX_CHARS = 500;

/** Statuses worth another try within the probe's time budget. */
function isTransient(status: number): boolean {
  return status === 429 || status === 502 || status === 503 || status === 504;
}

/** Delay before the next probe attempt: the server's retry-after (capped), else 100 ms doubling to 1 s. */
function retryDelayMs(retryAfter: string | null, attempt: number): number {
  const asked = parseRetryAfterMs(retryAfter);
  return asked === undefined ? Math.min(100 * 2 ** attempt, 1_000) : Math.min(asked, 5_000);
}

/** The first cursor of a fresh source, from the probe's response. */
export interface ProbeResult {
  readonly shapeHandle: string;
  readonly shapeOffset: string;
  readonly logMode: LogMode;
}

/** Extracts Electric's message from a 4xx body: `{"message", "errors": {field: [msg]}}`. */
function describeErrorBody(text: string): string {
  try {
    const body = JSON.parse(text) as { message?: unknown; errors?: Record<string, unknown> };
    const parts: string[] = [];
    if (body.errors && typeof body.errors === "object") {
      for (const [field, msgs] of Object.entries(body.errors)) {
        parts.push(`${field}: ${Array.isArray(msgs) ? msgs.join("; ") : JSON.stringify(msgs)}`);
      }
    }
    if (parts.length > 0) return parts.join("; ");
    if (typeof body.message === "string") return body.message;
  } catch {
    // not JSON: quote the text
  }
  return text.slice(0, PROBE_BODY_MAX_CHARS);
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
  }: { timeoutMs?: number; fetchFn?: typeof fetch } = {},
): Promise<ProbeResult> {
  const url = applyShapeParams(new URL(shapeUrl), shapeParamsFor(options), "changes_only");
  url.searchParams.set(ELECTRIC_PARAMS.offset, OFFSET_NOW);
  const shown = scrubUrl(shapeUrl);
  const deadline = Date.now() + timeoutMs;
  let response: Response;
  let text: string;
  for (let attempt = 0; ; attempt++) {
    const remaining = Math.max(1, deadline - Date.now());
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
    const delay = retryDelayMs(response.headers.get(ELECTRIC_HEADERS.retryAfter), attempt);
    if (Date.now() + delay >= deadline) {
      throw new UnavailableError(
        `shape endpoint ${shown} is temporarily unavailable (${response.status}: ${describeErrorBody(text)}); retry later`,
      );
    }
    await new Promise((r) => setTimeout(r, delay));
  }
  if (response.status >= 400) {
    throw new ShapeProbeFailedError(
      `shape endpoint ${shown} rejected the shape (${response.status}): ${describeErrorBody(text)}`,
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
