/**
 * 10,000 sources in one process: registration rate, RSS, restart → all LIVE, and the wake latency
 * of one busy source among them (commit → wake received, row `ts` to receive time), on a database,
 * shape server and pg-sync of their own. Optionally (`heapSnapshots`) a V8 heap snapshot of
 * pg-sync with no sources and with all of them, summarised per source by constructor.
 */
import { rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import pg from "pg";
import { TOKENS } from "../../scripts/lib/processes.js";
import { heapSnapshot, summariseHeapSnapshot } from "../lib/heap-summary.js";
import { pollUntil, rssMB, sample, scrape } from "../lib/metrics.js";
import { createBenchTable, type PgSync, startPgSync, startShapeServer } from "../lib/stack.js";
import { addResult, type Context, recordDistribution, round, startClient, startLoad } from "./context.js";
import { soakMemory } from "./many-sources.js";

/** Sizes of the scale scenario. */
export interface ScaleParams {
  readonly sources: number;
  readonly tables: number;
  readonly registerConcurrency: number;
  /** Rows inserted for the busy source, at `busyRate` rows/s. */
  readonly busyRows: number;
  readonly busyRate: number;
  readonly heapSnapshots: boolean;
}

/** Default sizes (quick: 2,000 sources; `sources` overrides, e.g. `--scale-sources 3000`). */
export function scaleParams(quick: boolean, sources?: number): ScaleParams {
  return {
    sources: sources ?? (quick ? 2_000 : 10_000),
    tables: 5,
    registerConcurrency: 8,
    busyRows: quick ? 1_000 : 3_000,
    busyRate: 200,
    // BENCH_SCALE_HEAP=0: no snapshots (each one leaves its own allocations in the RSS figures).
    heapSnapshots: process.env.BENCH_SCALE_HEAP !== "0",
  };
}

const LIVE = 'pgsync_bridges{state="LIVE"}';
const live = async (pgsync: PgSync) => sample(await scrape(pgsync.url), LIVE);

/** RSS and the V8 heap / external memory pg-sync reports on /metrics, in MB. */
async function memory(pgsync: PgSync) {
  const m = await scrape(pgsync.url);
  const mb = (series: string) => round(sample(m, series) / 2 ** 20);
  return {
    rss: round(await rssMB(pgsync.pid)),
    heap_used: mb("nodejs_heap_size_used_bytes"),
    heap_total: mb("nodejs_heap_size_total_bytes"),
    external: mb("nodejs_external_memory_bytes"),
  };
}

/** Registrations retried, by cause: the probe timed out (the bundled shape server under load) or UNAVAILABLE. */
const retries = { probe: 0, unavailable: 0 };

/** RegisterSource for source `k`, retried (up to 10 attempts, 1 s apart) on transient failures. */
async function registerWithRetry(
  pgsync: PgSync,
  p: ScaleParams,
  k: number,
  onRetry: (cause: keyof typeof retries) => void,
): Promise<string> {
  for (let attempt = 1; ; attempt++) {
    try {
      const res = await pgsync.client.registerSource({
        options: { table: `s${k % p.tables}`, where: `bucket = ${k}` },
      });
      return res.sourceRef;
    } catch (err) {
      // The probe timed out on the loaded shape server, or pg-sync's state-database pool had no
      // connection free within its timeout (UNAVAILABLE, which clients are told to retry).
      const transient = String(err).includes("unreachable") || String(err).includes("[unavailable]");
      if (attempt >= 10 || !transient) throw err;
      onRetry(String(err).includes("unreachable") ? "probe" : "unavailable");
      await new Promise((r) => setTimeout(r, 1_000));
    }
  }
}

/** Registers sources `from` ≤ k < `to` into `refs`. */
async function register(
  ctx: Context,
  pgsync: PgSync,
  p: ScaleParams,
  refs: string[],
  from: number,
  to: number,
): Promise<void> {
  let next = from;
  await Promise.all(
    Array.from({ length: p.registerConcurrency }, async () => {
      while (next < to) {
        const k = next++;
        refs[k] = await registerWithRetry(pgsync, p, k, (cause) => retries[cause]++);
        if (k % 1000 === 999) ctx.log(`  ${k + 1} registered`);
      }
    }),
  );
}

/** Waits until `n` bridges are LIVE; returns when (epoch ms). */
function allLive(pgsync: PgSync, n: number, what: string): Promise<number> {
  return pollUntil(async () => (await live(pgsync)) >= n, { timeoutMs: 600_000, intervalMs: 200, what });
}

/**
 * Heap per source by constructor, from snapshots with no sources and with the first `snapshotAt`
 * (1,000: a 10,000-source snapshot is larger than V8's longest string); the snapshots are deleted.
 */
async function heapPerSource(pgsync: PgSync, idle: string, count: number) {
  const withSources = await heapSnapshot(pgsync.pid);
  try {
    return summariseHeapSnapshot(idle, withSources, count);
  } finally {
    rmSync(idle, { force: true });
    rmSync(withSources, { force: true });
  }
}

export async function runScale(ctx: Context, p: ScaleParams): Promise<void> {
  ctx.parameters.scale = p;
  const url = await ctx.cluster.createDatabase("scale", { synchronousCommit: true });
  const sql = new pg.Pool({ connectionString: url, max: 2 });
  ctx.cleanup.add("scale pool", () => sql.end());
  for (let t = 0; t < p.tables; t++) await createBenchTable(sql, `s${t}`);
  const shape = await startShapeServer(ctx.cleanup, url);
  const env = p.heapSnapshots ? { env: { NODE_OPTIONS: "--heapsnapshot-signal=SIGUSR2" } } : {};
  let pgsync = await startPgSync(ctx.cleanup, url, shape.url, env);
  await pgsync.client.listSources({});
  const idleRss = await rssMB(pgsync.pid);
  const memoryAt: Record<string, unknown> = { idle: await memory(pgsync) };
  const idleHeap = p.heapSnapshots ? await heapSnapshot(pgsync.pid) : undefined;

  ctx.log(
    `scale: registering ${p.sources} sources on ${p.tables} tables (${p.registerConcurrency} at a time)`,
  );
  const t0 = Date.now();
  const refs: string[] = [];
  const snapshotAt = Math.min(1_000, p.sources);
  await register(ctx, pgsync, p, refs, 0, snapshotAt);
  let pausedMs = 0;
  let heap: ReturnType<typeof summariseHeapSnapshot> | undefined;
  let rssAtSnapshot: number | undefined;
  if (idleHeap) {
    const pause = Date.now();
    await allLive(pgsync, snapshotAt, `${snapshotAt} bridges LIVE`);
    rssAtSnapshot = await rssMB(pgsync.pid);
    memoryAt[String(snapshotAt)] = await memory(pgsync);
    heap = await heapPerSource(pgsync, idleHeap, snapshotAt);
    ctx.log(
      `  heap per source at ${snapshotAt} sources: ${heap.totalBytesPerUnit} bytes; RSS ${round(rssAtSnapshot)} MB`,
    );
    pausedMs = Date.now() - pause;
  }
  await register(ctx, pgsync, p, refs, snapshotAt, p.sources);
  const registeredMs = Date.now() - t0 - pausedMs;
  const liveAt = await allLive(pgsync, p.sources, `${p.sources} bridges LIVE`);
  const firstLiveMs = liveAt - t0 - pausedMs;
  const sourcesRss = await rssMB(pgsync.pid);
  memoryAt[String(p.sources)] = await memory(pgsync);
  ctx.log(
    `  registered in ${registeredMs} ms, all LIVE after ${firstLiveMs} ms, RSS ${round(sourcesRss)} MB`,
  );

  // Wake latency of one busy source (bucket 0 of table s0) among all the others.
  const refsFile = join(ctx.cluster.dir, "..", "scale-ref.txt");
  writeFileSync(refsFile, refs[0] as string);
  const watcher = startClient(ctx, "watcher", [
    ...["--url", pgsync.url, "--token", TOKENS.a, "--refs-file", refsFile],
    ...["--expect", String(p.busyRows), "--latency"],
  ]);
  // Baseline: a raw ShapeStream on the same shape of the same shape server.
  const raw = startClient(ctx, "shape-consumer", [
    ...["--url", shape.url, "--table", "s0", "--where", "bucket = 0"],
    ...["--expect", String(p.busyRows), "--latency"],
  ]);
  await Promise.all([watcher.line(/^ready /, 120_000), raw.line(/^ready$/, 120_000)]);
  ctx.log(`  busy load starts at ${new Date().toISOString()}`);
  const load = startLoad(ctx, url, "s0", { rows: p.busyRows, rate: p.busyRate, buckets: 1 });
  const wake = await watcher.json<{ p50: number; p99: number }>("latency", 600_000);
  const rawWake = await raw.json<{ p50: number; p99: number }>("latency", 600_000);
  recordDistribution(ctx, `scale: commit → received, one busy source among ${p.sources}`, "ms", {
    "pg-sync wake": await watcher.json<number[]>("latency_samples"),
    "raw ShapeStream (baseline)": await raw.json<number[]>("latency_samples"),
  });
  await load.result;
  await watcher.stop();
  // BENCH_LOG_FILE: keep pg-sync's recent output (its last megabyte or two) for a post-mortem.
  if (process.env.BENCH_LOG_FILE) writeFileSync(process.env.BENCH_LOG_FILE, pgsync.child.output());

  const restartAt = Date.now();
  await pgsync.stop();
  pgsync = await startPgSync(ctx.cleanup, url, shape.url);
  const restartLiveAt = await allLive(pgsync, p.sources, `${p.sources} bridges LIVE after the restart`);
  const restartMs = restartLiveAt - restartAt;
  const restartedRss = await rssMB(pgsync.pid);
  const soak = await soakMemory(ctx, pgsync, Number(process.env.BENCH_SOAK_MS ?? 0));
  ctx.breakdown.scale = {
    sources: p.sources,
    registration_ms: registeredMs,
    first_all_live_ms: firstLiveMs,
    idle_rss_mb: round(idleRss),
    sources_rss_mb: round(sourcesRss),
    ...(rssAtSnapshot ? { rss_at_1000_sources_mb: round(rssAtSnapshot) } : {}),
    restarted_rss_mb: round(restartedRss),
    restart_all_live_ms: restartMs,
    registrations_retried: { ...retries },
    busy_wake_ms: wake,
    busy_raw_shape_stream_ms: rawWake,
    memory_mb: memoryAt,
    ...(soak.length > 0 ? { soak_after_restart: soak } : {}),
    ...(heap ? { heap_per_source: heap } : {}),
  };
  const n = p.sources.toLocaleString("en-US");
  addResult(ctx, {
    id: "N1_rss",
    name: `RSS with ${n} sources (baseline: idle, no sources)`,
    value: sourcesRss,
    unit: "MB",
    baseline: idleRss,
    goal: 1024,
    cmp: "<=",
  });
  addResult(ctx, {
    id: "N1_register",
    name: `RegisterSource rate, ${p.registerConcurrency} concurrent, ${n} new sources (each probes the shape endpoint)`,
    value: (p.sources / registeredMs) * 1000,
    unit: "sources/s",
    baseline: null,
    goal: null,
  });
  addResult(ctx, {
    id: "N1_restart",
    name: `restart with ${n} sources: SIGTERM → all LIVE again (baseline: first start, first RegisterSource → all LIVE)`,
    value: restartMs / 1000,
    unit: "s",
    baseline: firstLiveMs / 1000,
    goal: 60,
    cmp: "<=",
  });
  addResult(ctx, {
    id: "N1_wake_p99",
    name: `commit → wake, p99, one source at ${p.busyRate} rows/s among ${n}; p50 ${round(wake.p50)} ms (baseline: raw ShapeStream on the same shape, p99; its p50 ${round(rawWake.p50)} ms)`,
    value: wake.p99,
    unit: "ms",
    baseline: rawWake.p99,
    goal: null,
  });
  await pgsync.stop();
  await shape.stop();
}
