/**
 * Fault controls for tests (enabled with `--test-controls` / `SHAPE_TEST_CONTROLS=1`):
 * `DELETE /v1/shape`, `POST /v1/test/{rotate,drop,unavailable}`, `GET /v1/test/{shapes,stats}`.
 */
import type { ServerResponse } from "node:http";
import { CACHE_CONTROL, HEADER, RETRY_AFTER_TEST_S, ROUTE } from "../constants.js";
import { parseRelation } from "../identifiers.js";
import { formatOffset } from "../offset.js";
import type { Shape } from "../shapes/shape.js";
import type { ServerContext } from "./context.js";
import { sendJson } from "./responses.js";

const NO_SHAPE = JSON.stringify({ message: "No existing shape found" });

/** Shapes selected by `handle=` and/or `table=`; null when neither is given or `table` is invalid. */
export function selectShapes(ctx: ServerContext, query: URLSearchParams): Shape[] | null {
  const handle = query.get("handle");
  const tableText = query.get("table");
  if (!handle && !tableText) return null;
  const relation = tableText ? parseRelation(tableText) : null;
  if (typeof relation === "string") return null;
  return ctx.registry.list().filter((shape) => {
    if (handle && shape.handle !== handle) return false;
    if (relation) {
      const r = shape.table.relation;
      if (r.schema !== relation.schema || r.table !== relation.table) return false;
    }
    return true;
  });
}

/** `DELETE /v1/shape`: 202 with an empty body, 404 when nothing matches, 405 when disabled. */
export function handleShapeDelete(ctx: ServerContext, res: ServerResponse, query: URLSearchParams): void {
  if (!ctx.options.testControls) {
    sendJson(res, 405, JSON.stringify({ message: "DELETE not allowed" }), {
      [HEADER.cacheControl]: CACHE_CONTROL.noCache,
    });
    return;
  }
  const shapes = selectShapes(ctx, query);
  if (shapes === null) {
    sendJson(res, 400, JSON.stringify({ message: "Invalid request", errors: { table: ["can't be blank"] } }));
    return;
  }
  if (shapes.length === 0) {
    sendJson(res, 404, NO_SHAPE, { [HEADER.cacheControl]: CACHE_CONTROL.noCache });
    return;
  }
  for (const shape of shapes) ctx.registry.remove(shape, "deleted");
  res.statusCode = 202;
  res.setHeader(HEADER.cacheControl, CACHE_CONTROL.noCache);
  res.end();
}

/** Routes `/v1/test/*`; returns false when the path is not a test control (or controls are off). */
export async function handleTestControl(
  ctx: ServerContext,
  method: string,
  path: string,
  res: ServerResponse,
  query: URLSearchParams,
): Promise<boolean> {
  if (!ctx.options.testControls) return false;
  const noCache = { [HEADER.cacheControl]: CACHE_CONTROL.noCache };
  if (path === ROUTE.testShapes && method === "GET") {
    const list = ctx.registry.list().map((shape) => ({
      handle: shape.handle,
      table: `${shape.table.relation.schema}.${shape.table.relation.table}`,
      where: shape.definition.where,
      offset: formatOffset(shape.lastOffset),
      waiters: shape.waiters,
    }));
    sendJson(res, 200, JSON.stringify(list), noCache);
    return true;
  }
  if (path === ROUTE.testStats && method === "GET") {
    const memory = process.memoryUsage();
    const shapes = ctx.registry.list();
    const stats = {
      shapes: shapes.length,
      waiters: shapes.reduce((n, s) => n + s.waiters, 0),
      body_builds: shapes.reduce((n, s) => n + s.bodyBuilds, 0),
      tail_bytes: shapes.reduce((n, s) => n + s.tailBytes, 0),
      global_last_seen_lsn: ctx.progress.globalLsn.toString(),
      ingest: ctx.ingestTiming(),
      memory: { rss: memory.rss, heap_used: memory.heapUsed, external: memory.external },
    };
    sendJson(res, 200, JSON.stringify(stats), noCache);
    return true;
  }
  if (method !== "POST") return false;
  if (path === ROUTE.testUnavailable) {
    const ms = Number(query.get("ms") ?? "0");
    const retryAfter = Number(query.get("retry_after") ?? RETRY_AFTER_TEST_S);
    if (!Number.isFinite(ms) || ms < 0 || !Number.isFinite(retryAfter) || retryAfter < 0) {
      sendJson(
        res,
        400,
        JSON.stringify({ message: "ms and retry_after must be non-negative numbers" }),
        noCache,
      );
      return true;
    }
    ctx.setUnavailable(ms, retryAfter);
    sendJson(res, 200, JSON.stringify({ until: new Date(Date.now() + ms).toISOString() }), noCache);
    return true;
  }
  if (path === ROUTE.testRotate || path === ROUTE.testDrop) {
    const shapes = selectShapes(ctx, query);
    if (shapes === null) {
      sendJson(res, 400, JSON.stringify({ message: "handle or table is required" }), noCache);
      return true;
    }
    if (shapes.length === 0) {
      sendJson(res, 404, NO_SHAPE, noCache);
      return true;
    }
    if (path === ROUTE.testDrop) {
      for (const shape of shapes) ctx.registry.remove(shape, "deleted");
      sendJson(res, 200, JSON.stringify({ dropped: shapes.map((s) => s.handle) }), noCache);
      return true;
    }
    const rotated = [];
    for (const shape of shapes) {
      const next = await ctx.registry.rotate(shape);
      rotated.push({ from: shape.handle, to: next.handle });
    }
    sendJson(res, 200, JSON.stringify({ rotated }), noCache);
    return true;
  }
  return false;
}
