/**
 * Subset snapshot responses (§11): the shape is resolved as for any request (created at `-1` or
 * `now`, 409 for a stale handle), then the subset runs in its own snapshot and is answered as
 * `{"metadata":{xmin,xmax,xip_list,snapshot_mark,database_lsn},"data":[inserts]}` with
 * `electric-snapshot: true` and `cache-control: no-cache`.
 */
import type { ServerResponse } from "node:http";
import { HEADER } from "../constants.js";
import { formatOffset } from "../offset.js";
import type { Shape } from "../shapes/shape.js";
import { checkSubset, runSubset, type Subset } from "../shapes/subset-snapshot.js";
import type { ServerContext } from "./context.js";
import type { ShapeRequest } from "./request-params.js";
import { sendConflict } from "./responses.js";

/** Answers a subset request for `request`'s shape. */
export async function serveSubset(
  ctx: ServerContext,
  res: ServerResponse,
  request: ShapeRequest,
  subset: Subset,
): Promise<void> {
  const { registry } = ctx;
  let shape: Shape | undefined;
  if (request.offset === "now" || request.offset.tx < 0n) {
    shape = await registry.getOrCreate(request.definition);
  } else {
    shape = registry.byDefinition(request.definition);
    if (!shape || shape.handle !== request.handle) {
      return sendConflict(res, (await registry.getOrCreate(request.definition)).handle);
    }
  }
  checkSubset(shape, subset);
  // Taken before the snapshot: changes after it are re-read and filtered by the client's
  // snapshot tracker (xmin/xmax/xip), so none is lost.
  const offset = formatOffset(shape.lastOffset);
  const { metadata, rows } = await runSubset(ctx.snapshotPool, shape, subset);
  res.writeHead(200, {
    [HEADER.handle]: shape.handle,
    [HEADER.offset]: offset,
    [HEADER.schema]: shape.schemaHeader,
    [HEADER.snapshot]: "true",
    [HEADER.contentType]: "application/json; charset=utf-8",
    [HEADER.cacheControl]: "no-cache",
  });
  res.end(`{"metadata":${JSON.stringify(metadata)},"data":[${rows.join(",")}]}`);
}
