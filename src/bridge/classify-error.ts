import { FetchBackoffAbortError, FetchError } from "@electric-sql/client";
import { parseRetryAfterMs } from "../domain/backoff.js";
import { FencedError } from "../domain/errors.js";
import { classifyPgError } from "../storage/pg-errors.js";
import { ELECTRIC_HEADERS } from "./electric-constants.js";
import { ELECTRIC_ERROR_MAX_CHARS, formatElectricError } from "./electric-error.js";
import { NotAShapeEndpointError, ShapeEndpointRedirectError } from "./electric-fetch.js";

/** How the bridge reacts to an error. */
export type ErrorClass =
  | { readonly kind: "retryable"; readonly message: string; readonly retryAfterMs: number }
  | { readonly kind: "permanent"; readonly message: string }
  | { readonly kind: "fenced"; readonly message: string }
  | { readonly kind: "aborted" };

const MESSAGE_MAX_CHARS = ELECTRIC_ERROR_MAX_CHARS;

function retryAfterMs(headers: Record<string, string> | undefined): number {
  return parseRetryAfterMs(headers?.[ELECTRIC_HEADERS.retryAfter]) ?? 0;
}

/**
 * Classifies an error met by a bridge. 5xx, 429, network failures and state-database failures
 * heal: retry with backoff. Other 4xx (table dropped, bad where) and a non-shape endpoint do not:
 * the source fails until it is registered again, as does a redirect (never followed). Scrubbed:
 * messages never include the URL or a network cause.
 */
export function classifyError(err: unknown): ErrorClass {
  if (err instanceof FetchBackoffAbortError) return { kind: "aborted" };
  if (err instanceof FencedError) return { kind: "fenced", message: err.message };
  if (err instanceof ShapeEndpointRedirectError) return { kind: "permanent", message: err.message };
  if (err instanceof FetchError && err.status >= 300 && err.status < 400) {
    return { kind: "permanent", message: new ShapeEndpointRedirectError(err.status).message };
  }
  if (err instanceof FetchError) {
    const detail = formatElectricError(err.status, { json: err.json, text: err.text });
    if (err.status === 429 || err.status >= 500) {
      return {
        kind: "retryable",
        message: `shape endpoint answered ${err.status}: ${detail}`,
        retryAfterMs: retryAfterMs(err.headers),
      };
    }
    return { kind: "permanent", message: `shape endpoint rejected the shape (${err.status}): ${detail}` };
  }
  if (isNotAShapeEndpoint(err)) {
    return {
      kind: "permanent",
      message: "the shape endpoint is not an Electric shape log (missing electric-* headers)",
    };
  }
  if ((err as Error)?.name === "AbortError") return { kind: "aborted" };
  if (classifyPgError(err) !== undefined) {
    return {
      kind: "retryable",
      message: `state database error: ${(err as Error).message}`.slice(0, MESSAGE_MAX_CHARS),
      retryAfterMs: 0,
    };
  }
  // Network failures: the cause (ECONNREFUSED, ENOTFOUND) and the message (which may quote the
  // URL) stay out of what a tenant reads; errorSummary gives the operator's log the cause.
  return { kind: "retryable", message: "shape endpoint unreachable", retryAfterMs: 0 };
}

/**
 * A successful response without Electric's headers: ours ({@link NotAShapeEndpointError}) or the
 * Electric client's `MissingHeadersError`, which the client neither exports nor names (its
 * `name` is "Error"), so it is recognised by its class name.
 */
function isNotAShapeEndpoint(err: unknown): boolean {
  return (
    err instanceof NotAShapeEndpointError ||
    (err instanceof Error && err.constructor.name === "MissingHeadersError")
  );
}

/** The error's name and cause code, for operators' logs: never its message, which may carry the URL. */
export function errorSummary(err: unknown): { readonly name: string; readonly cause: string | undefined } {
  const cause = (err as { cause?: { code?: unknown } } | undefined)?.cause?.code;
  return {
    name: err instanceof Error ? err.name : typeof err,
    cause: typeof cause === "string" ? cause : undefined,
  };
}
