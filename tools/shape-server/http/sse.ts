/**
 * Live SSE mode (§1.9): one `data:` event per message, each batch closed by an up-to-date whose
 * `global_last_seen_lsn` is the batch's last transaction (the client resumes from `<lsn>_0`),
 * keep-alive comments, and the connection closed after the SSE timeout or when the shape goes.
 */
import type { IncomingMessage, ServerResponse } from "node:http";
import { CACHE_CONTROL, CONTENT_TYPE_SSE, HEADER } from "../constants.js";
import { formatOffset, type LogOffset } from "../offset.js";
import { upToDateMessage } from "../shapes/messages.js";
import type { Shape } from "../shapes/shape.js";
import { writeSseEvents } from "./body-writer.js";
import type { ServerContext } from "./context.js";
import type { ShapeRequest } from "./request-params.js";
import { etag, nextCursor } from "./responses.js";

/**
 * Serves a live SSE request. When data is already available it sends it as a finite stream and
 * closes; otherwise it holds the stream open and sends each new batch.
 */
export async function serveSse(
  ctx: ServerContext,
  _req: IncomingMessage,
  res: ServerResponse,
  shape: Shape,
  request: ShapeRequest,
  signal: AbortSignal,
): Promise<void> {
  const offset = request.offset as LogOffset;
  const offsetText = formatOffset(offset);
  res.writeHead(200, {
    [HEADER.contentType]: CONTENT_TYPE_SSE,
    connection: "keep-alive",
    [HEADER.cacheControl]: CACHE_CONTROL.liveSse,
    [HEADER.handle]: shape.handle,
    [HEADER.offset]: offsetText,
    [HEADER.cursor]: nextCursor(request.cursor, ctx.options.longPollTimeoutMs),
    [HEADER.etag]: etag(shape.handle, offsetText, offsetText, true),
  });
  res.flushHeaders();
  const keepAlive = setInterval(() => {
    if (!res.destroyed) res.write(": keep-alive\n\n");
  }, ctx.options.sseKeepaliveMs);
  const deadline = Date.now() + ctx.options.sseTimeoutMs;
  let afterTx = offset.tx;
  const finite = shape.readAfter(afterTx).end !== null;
  try {
    for (;;) {
      const read = shape.readAfter(afterTx);
      if (read.end) {
        const source = read.bodies ?? ctx.store.readLog(shape.handle, afterTx, read.end.tx);
        if (!(await writeSseEvents(res, source))) return;
        afterTx = read.end.tx;
        if (read.upToDate) {
          const lsn = read.end.tx > 0n ? read.end.tx : ctx.progress.globalLsn;
          if (!(await writeSseEvents(res, [upToDateMessage(lsn)]))) return;
          if (finite) return;
        }
        continue;
      }
      const remaining = deadline - Date.now();
      if (remaining <= 0) return;
      const outcome = await shape.waitForChange(afterTx, remaining, signal);
      if (outcome !== "changed") return;
    }
  } finally {
    clearInterval(keepAlive);
    if (!res.writableEnded) res.end();
  }
}
