/**
 * `GET /v1/shape`: initial snapshot chunks, the change log, `offset=now`, live long-polls and
 * (delegated to `sse.ts`) SSE, with Electric's headers, errors and 409s.
 */
import type { IncomingMessage, ServerResponse } from "node:http";
import { CACHE_CONTROL, HEADER, RETRY_AFTER_DB_ERROR_S, RETRY_AFTER_NOT_READY_S } from "../constants.js";
import { InvalidRequestError, UnavailableError } from "../errors.js";
import { formatOffset, type LogOffset, OP_INF, SNAPSHOT_END } from "../offset.js";
import { snapshotEndMessage, upToDateMessage } from "../shapes/messages.js";
import type { LogRead, Shape } from "../shapes/shape.js";
import { type MessageSource, writeJsonArray } from "./body-writer.js";
import type { ServerContext } from "./context.js";
import { parseShapeRequest, type ShapeRequest } from "./request-params.js";
import { etag, nextCursor, sendConflict, sendInvalid, sendJson, sendUnavailable } from "./responses.js";
import { serveSse } from "./sse.js";
import { serveSubset } from "./subset-handler.js";
import { isSubsetKey, parseSubset, subsetQueryValues } from "./subset-params.js";

/**
 * Handles a shape GET (or HEAD, or a POST whose JSON body was read into `body`); errors are
 * turned into Electric's responses.
 */
export async function handleShapeGet(
  ctx: ServerContext,
  req: IncomingMessage,
  res: ServerResponse,
  url: URL,
  signal: AbortSignal,
  body: Record<string, unknown> = {},
): Promise<void> {
  if (ctx.logger.isLevelEnabled("debug")) {
    const started = performance.now();
    res.once("finish", () =>
      ctx.logger.debug(
        {
          query: url.search,
          status: res.statusCode,
          offset: res.getHeader("electric-offset"),
          ms: Math.round(performance.now() - started),
        },
        "shape request",
      ),
    );
  }
  try {
    const unavailable = ctx.unavailable();
    if (unavailable) return sendUnavailable(res, unavailable);
    if (!ctx.isReady()) {
      return sendUnavailable(res, new UnavailableError("Stack not ready", RETRY_AFTER_NOT_READY_S));
    }
    const subsetRaw = subsetQueryValues(url.searchParams);
    for (const [key, value] of Object.entries(body)) {
      if (isSubsetKey(key)) subsetRaw[key] = value;
      else if (typeof value === "string" || typeof value === "number")
        url.searchParams.set(key, String(value));
    }
    const subset = parseSubset(subsetRaw);
    const request = parseShapeRequest(url.searchParams);
    if (subset) return await serveSubset(ctx, res, request, subset);
    await serve(ctx, req, res, request, signal);
  } catch (err) {
    if (err instanceof InvalidRequestError) return sendInvalid(res, err.errors);
    if (err instanceof UnavailableError) return sendUnavailable(res, err);
    throw err;
  }
}

async function serve(
  ctx: ServerContext,
  req: IncomingMessage,
  res: ServerResponse,
  request: ShapeRequest,
  signal: AbortSignal,
): Promise<void> {
  const { registry } = ctx;
  if (request.offset === "now") {
    const shape = await registry.getOrCreate(request.definition);
    return sendNow(ctx, res, shape);
  }
  if (request.offset.tx < 0n) {
    const shape = await registry.getOrCreate(request.definition);
    return sendSnapshotChunk(ctx, req, res, shape, 0, "-1");
  }
  const shape = registry.byDefinition(request.definition);
  if (!shape || shape.handle !== request.handle) {
    const current = await registry.getOrCreate(request.definition);
    return sendConflict(res, current.handle);
  }
  const offset = request.offset;
  if (offset.tx === 0n && offset.op !== OP_INF) {
    const next = offset.op + 1;
    const availability = await awaitChunk(ctx, shape, next);
    if (availability === "gone")
      return sendConflict(res, (await registry.getOrCreate(request.definition)).handle);
    if (availability.exists) return sendSnapshotChunk(ctx, req, res, shape, next, formatOffset(offset));
  }
  if (offset.tx > ctx.progress.globalLsn && !(await awaitOffsetInBounds(ctx, offset.tx, signal))) {
    throw InvalidRequestError.field("offset", "out of bounds for this shape");
  }
  const afterTx = offset.tx;
  if (request.live && request.sse) return serveSse(ctx, req, res, shape, request, signal);
  const read = shape.readAfter(afterTx);
  if (read.end) return sendLog(ctx, req, res, shape, request, read);
  if (!request.live) return sendEmpty(ctx, res, shape, request, false);
  const outcome = await shape.waitForChange(afterTx, ctx.options.longPollTimeoutMs, signal);
  switch (outcome) {
    case "changed":
      return sendLog(ctx, req, res, shape, request, shape.readAfter(afterTx));
    case "timeout":
      if (!ctx.isReady()) {
        return sendUnavailable(
          res,
          new UnavailableError("Replication is not running", RETRY_AFTER_DB_ERROR_S),
        );
      }
      return sendEmpty(ctx, res, shape, request, true);
    case "gone":
      return sendConflict(res, (await registry.getOrCreate(request.definition)).handle);
    case "aborted":
      if (!res.headersSent) res.destroy();
      return;
  }
}

async function awaitChunk(
  ctx: ServerContext,
  shape: Shape,
  chunk: number,
): Promise<{ exists: boolean; last: boolean } | "gone"> {
  try {
    const availability = await shape.awaitChunk(chunk);
    return shape.gone ? "gone" : availability;
  } catch (err) {
    ctx.logger.warn({ err, shape_handle: shape.handle }, "snapshot failed");
    return "gone";
  }
}

/** Waits up to half the long-poll timeout for replication to reach `tx` (§1.3). */
async function awaitOffsetInBounds(ctx: ServerContext, tx: bigint, signal: AbortSignal): Promise<boolean> {
  const deadline = Date.now() + ctx.options.longPollTimeoutMs / 2;
  while (ctx.progress.globalLsn < tx) {
    const remaining = deadline - Date.now();
    if (remaining <= 0 || signal.aborted) return false;
    await new Promise<void>((resolve) => {
      const timer = setTimeout(done, remaining);
      const unsubscribe = ctx.progress.advanced.subscribe(done);
      signal.addEventListener("abort", done, { once: true });
      function done(): void {
        clearTimeout(timer);
        unsubscribe();
        signal.removeEventListener("abort", done);
        resolve();
      }
    });
  }
  return true;
}

function baseHeaders(
  shape: Shape,
  live: boolean,
  cursor: string | null,
  ctx: ServerContext,
): Record<string, string> {
  const headers: Record<string, string> = { [HEADER.handle]: shape.handle };
  if (live) headers[HEADER.cursor] = nextCursor(cursor, ctx.options.longPollTimeoutMs);
  else headers[HEADER.schema] = shape.schemaHeader;
  return headers;
}

function sendNow(ctx: ServerContext, res: ServerResponse, shape: Shape): void {
  const offset = formatOffset(shape.lastOffset);
  const headers = {
    ...baseHeaders(shape, false, null, ctx),
    [HEADER.contentType]: "application/json; charset=utf-8",
    [HEADER.offset]: offset,
    [HEADER.hasData]: "false",
    [HEADER.upToDate]: "",
    [HEADER.etag]: etag(shape.handle, "now", offset, true),
    [HEADER.cacheControl]: CACHE_CONTROL.nonLive,
  };
  sendJson(res, 200, `[${upToDateMessage(ctx.progress.globalLsn)}]`, headers);
}

/** Answers 304 when `If-None-Match` names this response's etag (§1.4); returns true then. */
function notModified(req: IncomingMessage, res: ServerResponse, headers: Record<string, string>): boolean {
  const tag = headers[HEADER.etag];
  if (!tag || req.headers[HEADER.ifNoneMatch] !== tag) return false;
  res.writeHead(304, {
    [HEADER.etag]: tag,
    [HEADER.handle]: headers[HEADER.handle]!,
    [HEADER.offset]: headers[HEADER.offset]!,
    [HEADER.cacheControl]: headers[HEADER.cacheControl]!,
  });
  res.end();
  return true;
}

async function sendSnapshotChunk(
  ctx: ServerContext,
  req: IncomingMessage,
  res: ServerResponse,
  shape: Shape,
  chunk: number,
  requestOffset: string,
): Promise<void> {
  const availability = await awaitChunk(ctx, shape, chunk);
  if (availability === "gone") {
    return sendUnavailable(res, new UnavailableError("Snapshot failed, please retry", 1, true));
  }
  const offset = formatOffset({ tx: 0n, op: chunk });
  const headers = {
    ...baseHeaders(shape, false, null, ctx),
    [HEADER.contentType]: "application/json; charset=utf-8",
    [HEADER.offset]: offset,
    [HEADER.hasData]: "true",
    [HEADER.etag]: etag(shape.handle, requestOffset, offset, false),
    [HEADER.cacheControl]: requestOffset === "-1" ? CACHE_CONTROL.initial : CACHE_CONTROL.nonLive,
  };
  if (notModified(req, res, headers)) return;
  res.writeHead(200, headers);
  const rows: MessageSource =
    shape.definition.log === "full" ? ctx.store.readSnapshotChunk(shape.handle, chunk) : ([] as string[]);
  const trailer = availability.last ? [snapshotEndMessage(shape.snapshotInfo)] : [];
  await writeJsonArray(res, rows, trailer);
}

/** A response with log entries (live or not). */
function sendLog(
  ctx: ServerContext,
  req: IncomingMessage,
  res: ServerResponse,
  shape: Shape,
  request: ShapeRequest,
  read: LogRead,
): Promise<void> | void {
  const end = read.end!;
  const endText = formatOffset(end);
  const requestText = formatOffset(request.offset as LogOffset);
  const headers: Record<string, string> = {
    ...baseHeaders(shape, request.live, request.cursor, ctx),
    [HEADER.contentType]: "application/json; charset=utf-8",
    [HEADER.offset]: endText,
    [HEADER.hasData]: "true",
    [HEADER.etag]: etag(shape.handle, requestText, endText, false),
    [HEADER.cacheControl]: request.live ? CACHE_CONTROL.live : CACHE_CONTROL.nonLive,
  };
  const globalLsn = request.live ? end.tx : maxBig(ctx.progress.globalLsn, end.tx);
  const trailer = read.upToDate ? [upToDateMessage(globalLsn)] : [];
  if (read.upToDate) headers[HEADER.upToDate] = "";
  if (notModified(req, res, headers)) return;
  const afterTx = (request.offset as LogOffset).tx;
  if (read.bodies) {
    const joined = shape.joinedBodiesAfter(afterTx, read.bodies);
    sendJson(res, 200, `[${joined}${trailer.length > 0 ? `,${trailer[0]}` : ""}]`, headers);
    return;
  }
  res.writeHead(200, headers);
  return writeJsonArray(res, ctx.store.readLog(shape.handle, afterTx, end.tx), trailer);
}

/** Nothing after the requested offset: `[up-to-date]` (a live timeout when `timedOut`). */
function sendEmpty(
  ctx: ServerContext,
  res: ServerResponse,
  shape: Shape,
  request: ShapeRequest,
  timedOut: boolean,
): void {
  const offset = request.offset as LogOffset;
  const responseOffset = offset.tx === 0n ? formatOffset(SNAPSHOT_END) : formatOffset(offset);
  const headers = {
    ...baseHeaders(shape, request.live, request.cursor, ctx),
    [HEADER.contentType]: "application/json; charset=utf-8",
    [HEADER.offset]: responseOffset,
    [HEADER.hasData]: timedOut ? "false" : "true",
    [HEADER.upToDate]: "",
    [HEADER.etag]: etag(shape.handle, formatOffset(offset), responseOffset, true),
    [HEADER.cacheControl]: request.live ? CACHE_CONTROL.live : CACHE_CONTROL.nonLive,
  };
  sendJson(res, 200, `[${upToDateMessage(ctx.progress.globalLsn)}]`, headers);
}

function maxBig(a: bigint, b: bigint): bigint {
  return a > b ? a : b;
}
