import { FetchBackoffAbortError, FetchError } from "@electric-sql/client";
import { FencedError } from "../domain/errors.js";
import { ELECTRIC_HEADERS } from "./electric-constants.js";

/** How the bridge reacts to an error. */
export type ErrorClass =
  | { readonly kind: "retryable"; readonly message: string; readonly retryAfterMs: number }
  | { readonly kind: "permanent"; readonly message: string }
  | { readonly kind: "fenced"; readonly message: string }
  | { readonly kind: "aborted" };

const MESSAGE_MAX_CHARS = 500;

/** A `retry-after` value (seconds or an HTTP date) in ms; undefined when absent or unreadable. */
export function parseRetryAfterMs(value: string | null | undefined): number | undefined {
  if (!value) return undefined;
  const seconds = Number(value);
  if (Number.isFinite(seconds)) return Math.max(0, seconds * 1000);
  const date = Date.parse(value);
  return Number.isFinite(date) ? Math.max(0, date - Date.now()) : undefined;
}

function retryAfterMs(headers: Record<string, string> | undefined): number {
  return parseRetryAfterMs(headers?.[ELECTRIC_HEADERS.retryAfter]) ?? 0;
}

function electricMessage(err: FetchError): string {
  const json = err.json as { message?: unknown; errors?: Record<string, unknown> } | undefined;
  if (json?.errors && typeof json.errors === "object") {
    return Object.entries(json.errors)
      .map(([field, msgs]) => `${field}: ${Array.isArray(msgs) ? msgs.join("; ") : JSON.stringify(msgs)}`)
      .join("; ");
  }
  if (typeof json?.message === "string") return json.message;
  return (err.text ?? "").slice(0, MESSAGE_MAX_CHARS) || `HTTP ${err.status}`;
}

function isStateDbError(err: unknown): boolean {
  const code = (err as { code?: unknown })?.code;
  return typeof code === "string" && /^[0-9A-Z]{5}$/.test(code);
}

/**
 * Classifies an error met by a bridge. 5xx, 429, network failures and state-database failures
 * heal: retry with backoff. Other 4xx (table dropped, bad where) and a non-shape endpoint do not:
 * the source fails until it is registered again. Scrubbed: messages never include the URL.
 */
export function classifyError(err: unknown): ErrorClass {
  if (err instanceof FetchBackoffAbortError) return { kind: "aborted" };
  if (err instanceof FencedError) return { kind: "fenced", message: err.message };
  if (err instanceof FetchError) {
    const detail = electricMessage(err);
    if (err.status === 429 || err.status >= 500) {
      return {
        kind: "retryable",
        message: `shape endpoint answered ${err.status}: ${detail}`,
        retryAfterMs: retryAfterMs(err.headers),
      };
    }
    return { kind: "permanent", message: `shape endpoint rejected the shape (${err.status}): ${detail}` };
  }
  const name = (err as Error)?.name;
  if (name === "MissingHeadersError") {
    return {
      kind: "permanent",
      message: "the shape endpoint is not an Electric shape log (missing electric-* headers)",
    };
  }
  if (name === "AbortError") return { kind: "aborted" };
  if (isStateDbError(err)) {
    return {
      kind: "retryable",
      message: `state database error: ${(err as Error).message}`.slice(0, MESSAGE_MAX_CHARS),
      retryAfterMs: 0,
    };
  }
  const cause = (err as { cause?: { code?: string } })?.cause?.code;
  const message = `${(err as Error)?.message ?? String(err)}${cause ? ` (${cause})` : ""}`;
  return {
    kind: "retryable",
    message: `shape endpoint unreachable: ${message}`.slice(0, MESSAGE_MAX_CHARS),
    retryAfterMs: 0,
  };
}
