/** Building blocks of HTTP responses: common headers, error bodies, cursor and etag values. */
import { randomInt } from "node:crypto";
import type { IncomingMessage, ServerResponse } from "node:http";
import {
  CACHE_CONTROL,
  CONTENT_TYPE_JSON,
  CURSOR_EPOCH_MS,
  CURSOR_MAX_JITTER_S,
  EXPOSED_HEADERS,
  HEADER,
  SERVER_VERSION,
} from "../constants.js";
import type { RequestErrors, UnavailableError } from "../errors.js";
import { MUST_REFETCH_BODY } from "../shapes/messages.js";

/** Headers the router adds to every response (§1.1). */
export function setCommonHeaders(req: IncomingMessage, res: ServerResponse, requestId: string): void {
  res.setHeader(HEADER.server, SERVER_VERSION);
  res.setHeader(HEADER.requestId, requestId);
  res.setHeader("access-control-allow-origin", req.headers.origin ?? "*");
  res.setHeader("access-control-allow-methods", "GET, POST, HEAD, DELETE, OPTIONS");
  res.setHeader("access-control-expose-headers", EXPOSED_HEADERS);
}

/** Sends a complete JSON response. */
export function sendJson(
  res: ServerResponse,
  status: number,
  body: string,
  headers: Record<string, string> = {},
): void {
  if (res.headersSent) {
    res.destroy();
    return;
  }
  res.statusCode = status;
  res.setHeader(HEADER.contentType, CONTENT_TYPE_JSON);
  for (const [name, value] of Object.entries(headers)) res.setHeader(name, value);
  res.end(body);
}

/** 400 `{"message":"Invalid request","errors":{...}}`. */
export function sendInvalid(res: ServerResponse, errors: RequestErrors): void {
  sendJson(res, 400, JSON.stringify({ message: "Invalid request", errors }), {
    [HEADER.cacheControl]: CACHE_CONTROL.error,
    [HEADER.surrogateControl]: CACHE_CONTROL.error,
  });
}

/** 503 with `retry-after`. */
export function sendUnavailable(res: ServerResponse, err: UnavailableError): void {
  const headers: Record<string, string> = {
    [HEADER.retryAfter]: String(err.retryAfterS),
    [HEADER.cacheControl]: CACHE_CONTROL.error,
    [HEADER.surrogateControl]: CACHE_CONTROL.error,
  };
  if (err.knownError) headers[HEADER.knownError] = "true";
  sendJson(res, 503, JSON.stringify({ message: err.message }), headers);
}

/** 409 must-refetch with the current handle of the definition. */
export function sendConflict(res: ServerResponse, handle: string | null): void {
  const headers: Record<string, string> = {
    [HEADER.cacheControl]: handle ? CACHE_CONTROL.conflict : CACHE_CONTROL.conflictNoHandle,
  };
  if (handle) headers[HEADER.handle] = handle;
  sendJson(res, 409, MUST_REFETCH_BODY, headers);
}

/** 500 for unexpected errors (details are logged, never sent). */
export function sendInternalError(res: ServerResponse): void {
  sendJson(res, 500, JSON.stringify({ error: "Internal server error" }), {
    [HEADER.cacheControl]: CACHE_CONTROL.error,
  });
}

/**
 * The next `electric-cursor` (§1.8): seconds since 2024-10-09 rounded up to a multiple of the
 * long-poll timeout; when that does not exceed the request's cursor, the cursor plus a random step.
 */
export function nextCursor(
  requestCursor: string | null,
  longPollTimeoutMs: number,
  nowMs = Date.now(),
): string {
  const interval = Math.max(1, Math.round(longPollTimeoutMs / 1000));
  const seconds = Math.floor((nowMs - CURSOR_EPOCH_MS) / 1000);
  const next = Math.ceil(seconds / interval) * interval;
  const previous = requestCursor !== null && /^\d+$/.test(requestCursor) ? Number(requestCursor) : null;
  if (previous !== null && next <= previous) return String(previous + randomInt(1, CURSOR_MAX_JITTER_S + 1));
  return String(next);
}

/** The etag `"<handle>:<request offset>:<response offset>[:<unique>]"`. */
export function etag(handle: string, requestOffset: string, responseOffset: string, unique: boolean): string {
  const suffix = unique ? `:${process.hrtime.bigint()}` : "";
  return `"${handle}:${requestOffset}:${responseOffset}${suffix}"`;
}
