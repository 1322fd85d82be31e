/** Routes of the shape server (§1.1) and per-request plumbing (ids, abort on disconnect, errors). */
import { randomUUID } from "node:crypto";
import type { IncomingMessage, RequestListener, ServerResponse } from "node:http";
import { CACHE_CONTROL, HEADER, MAX_POST_BODY_BYTES, ROUTE } from "../constants.js";
import type { ServerContext } from "./context.js";
import { sendInternalError, sendJson, setCommonHeaders } from "./responses.js";
import { handleShapeGet } from "./shape-handler.js";
import { handleShapeDelete, handleTestControl } from "./test-controls.js";

/** Normalises a path as Electric does: decoded, duplicate and trailing slashes removed. */
export function normalizePath(pathname: string): string {
  let decoded = pathname;
  try {
    decoded = decodeURIComponent(pathname);
  } catch {
    // keep the raw path
  }
  const collapsed = decoded.replace(/\/{2,}/g, "/");
  return collapsed.length > 1 && collapsed.endsWith("/") ? collapsed.slice(0, -1) : collapsed;
}

function sendHealth(ctx: ServerContext, res: ServerResponse): void {
  const ready = ctx.isReady();
  sendJson(res, ready ? 200 : 202, JSON.stringify({ status: ready ? "active" : "starting" }), {
    [HEADER.cacheControl]: CACHE_CONTROL.health,
  });
}

function sendOptions(req: IncomingMessage, res: ServerResponse): void {
  res.statusCode = 204;
  res.setHeader("access-control-max-age", "86400");
  res.setHeader("connection", "keep-alive");
  const requested = req.headers["access-control-request-headers"];
  if (requested) res.setHeader("access-control-allow-headers", requested);
  res.end();
}

function notFound(res: ServerResponse): void {
  res.statusCode = 404;
  res.setHeader(HEADER.contentType, "text/plain; charset=utf-8");
  res.end("Not found");
}

/** The request listener of the shape server. */
export function createRouter(ctx: ServerContext): RequestListener {
  return (req, res) => {
    const requestId = randomUUID();
    setCommonHeaders(req, res, requestId);
    const aborter = new AbortController();
    const onClose = (): void => aborter.abort();
    res.on("close", onClose);
    const onClosing = (): void => aborter.abort();
    ctx.closing.addEventListener("abort", onClosing, { once: true });
    res.on("close", () => ctx.closing.removeEventListener("abort", onClosing));
    route(ctx, req, res, aborter.signal).catch((err: unknown) => {
      ctx.logger.error({ err, request_id: requestId, url: req.url }, "request failed");
      if (!res.headersSent) sendInternalError(res);
      else res.destroy();
    });
  };
}

/**
 * Reads a POST body of at most {@link MAX_POST_BODY_BYTES} as a JSON object; answers Electric's
 * 413/400 and returns null otherwise.
 */
async function readJsonBody(
  req: IncomingMessage,
  res: ServerResponse,
): Promise<Record<string, unknown> | null> {
  const parts: Buffer[] = [];
  let size = 0;
  for await (const chunk of req) {
    size += (chunk as Buffer).length;
    if (size > MAX_POST_BODY_BYTES) {
      sendJson(res, 413, JSON.stringify({ error: "Request body too large" }));
      return null;
    }
    parts.push(chunk as Buffer);
  }
  const text = Buffer.concat(parts).toString("utf8");
  if (text.trim() === "") return {};
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (err) {
    const details = err instanceof Error ? err.message : String(err);
    sendJson(res, 400, JSON.stringify({ error: "Invalid JSON in request body", details }));
    return null;
  }
  if (value === null || typeof value !== "object" || Array.isArray(value)) {
    sendJson(res, 400, JSON.stringify({ error: "Request body must be a JSON object" }));
    return null;
  }
  return value as Record<string, unknown>;
}

async function route(
  ctx: ServerContext,
  req: IncomingMessage,
  res: ServerResponse,
  signal: AbortSignal,
): Promise<void> {
  const raw = req.url ?? "/";
  const queryAt = raw.indexOf("?");
  const url = new URL(`http://localhost/${queryAt >= 0 ? raw.slice(queryAt) : ""}`);
  const path = normalizePath(queryAt >= 0 ? raw.slice(0, queryAt) : raw);
  const method = req.method ?? "GET";
  if (path === ROUTE.shape) {
    if (method === "GET" || method === "HEAD") return handleShapeGet(ctx, req, res, url, signal);
    if (method === "DELETE") return handleShapeDelete(ctx, res, url.searchParams);
    if (method === "OPTIONS") return sendOptions(req, res);
    if (method === "POST") {
      const body = await readJsonBody(req, res);
      if (body) return handleShapeGet(ctx, req, res, url, signal, body);
      return;
    }
    return notFound(res);
  }
  if (path === ROUTE.health && (method === "GET" || method === "HEAD")) return sendHealth(ctx, res);
  if (path === ROUTE.root && (method === "GET" || method === "HEAD")) {
    res.statusCode = 200;
    res.end();
    return;
  }
  if (path.startsWith("/v1/test/") && (await handleTestControl(ctx, method, path, res, url.searchParams)))
    return;
  notFound(res);
}
