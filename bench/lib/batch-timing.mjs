/**
 * Preload for a pg-sync process under benchmark (`node --import ./bench/lib/batch-timing.mjs`):
 * wraps the global fetch so that every Electric shape response is read whole on arrival and
 * recorded, as one JSON line appended to `$BENCH_BATCH_TIMING_FILE`:
 * `{"at": epoch ms when the body had arrived, "changes": change messages in it, "status", "offset"}`.
 * The benchmark pairs these with the commit notifications of the log to get each batch's
 * delivery → commit time. Plain JavaScript (no tsx) so it loads before anything else.
 */
import { appendFileSync } from "node:fs";

const file = process.env.BENCH_BATCH_TIMING_FILE;
const CHANGE = /"operation":"(?:insert|update|delete)"/g;
const NULL_BODY = new Set([101, 204, 205, 304]);

if (file) {
  const original = globalThis.fetch;
  globalThis.fetch = async (input, init) => {
    const url = typeof input === "string" ? input : input instanceof URL ? input.href : input.url;
    const res = await original(input, init);
    if (!url.includes("/v1/shape") || NULL_BODY.has(res.status)) return res;
    const body = await res.text();
    const at = performance.timeOrigin + performance.now();
    const changes = body.match(CHANGE)?.length ?? 0;
    const offset = res.headers.get("electric-offset");
    appendFileSync(file, `${JSON.stringify({ at, changes, status: res.status, offset })}\n`);
    return new Response(body, { status: res.status, statusText: res.statusText, headers: res.headers });
  };
}
