/**
 * P7 restart with many sources and P9 memory with many sources and open streams, on a database,
 * shape server and pg-sync of their own.
 */
import { rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import pg from "pg";
import { TOKENS } from "../../scripts/lib/processes.js";
import { heapSnapshot, summariseHeapSnapshot } from "../lib/heap-summary.js";
import { pollUntil, rssMB, sample, scrape } from "../lib/metrics.js";
import { createBenchTable, type PgSync, startPgSync, startShapeServer } from "../lib/stack.js";
import { addResult, type Context, round, startClient } from "./context.js";

/** Sizes of the many-sources scenarios. */
export interface ManyParams {
  readonly sources: number;
  readonly tables: number;
  /** Concurrent RegisterSource calls. */
  readonly registerConcurrency: number;
  /** HTTP/2 connections carrying the idle streams. */
  readonly streamConnections: number;
  /**
   * Heap snapshots (`--heap`): idle, with the sources, with the streams; the breakdown gets the
   * growth per source and per stream by constructor. Each snapshot forces a full GC, so RSS is
   * sampled before it.
   */
  readonly heapSnapshots?: boolean;
}

/** Default sizes (the same in quick and full runs: the goals are stated for 1,000 sources). */
export function manyParams(): ManyParams {
  return { sources: 1_000, tables: 4, registerConcurrency: 8, streamConnections: 10 };
}

/** V8 heap used / committed and external memory pg-sync reports on /metrics, in MB. */
async function v8Memory(pgsync: PgSync) {
  const m = await scrape(pgsync.url);
  const mb = (series: string) => round(sample(m, series) / 2 ** 20);
  return {
    heap_used: mb("nodejs_heap_size_used_bytes"),
    heap_total: mb("nodejs_heap_size_total_bytes"),
    external: mb("nodejs_external_memory_bytes"),
  };
}

/**
 * RSS and V8 memory every 10 s for `ms` (`BENCH_SOAK_MS`): whether memory keeps growing while the
 * sources long-poll with nothing to deliver (each long-poll ends every 20 s on the shape server).
 */
export async function soakMemory(ctx: Context, pgsync: PgSync, ms: number) {
  const samples: Record<string, number>[] = [];
  for (let t = 0; t < ms; t += 10_000) {
    await new Promise((r) => setTimeout(r, 10_000));
    const m = { s: (t + 10_000) / 1000, rss: round(await rssMB(pgsync.pid)), ...(await v8Memory(pgsync)) };
    ctx.log(`  soak ${JSON.stringify(m)}`);
    samples.push(m);
  }
  return samples;
}

/** Snapshots taken so far, to summarise as differences and delete at the end. */
class HeapStudy {
  readonly #files: string[] = [];
  readonly memory: Record<string, unknown> = {};

  constructor(
    private readonly ctx: Context,
    private readonly enabled: boolean,
  ) {}

  /** Records V8 memory at `label` and, when enabled, takes a snapshot. */
  async at(pgsync: PgSync, label: string): Promise<void> {
    this.memory[label] = await v8Memory(pgsync);
    if (this.enabled) this.#files.push(await heapSnapshot(pgsync.pid));
  }

  /** Growth between snapshot `from` and `to` (indexes in order taken), per `units`. */
  summary(from: number, to: number, units: number, what: string) {
    const [a, b] = [this.#files[from], this.#files[to]];
    if (!a || !b) return undefined;
    const s = summariseHeapSnapshot(a, b, units, 25);
    this.ctx.log(`  heap per ${what}: ${s.totalBytesPerUnit} bytes`);
    for (const r of s.rows.slice(0, 12))
      this.ctx.log(`    ${r.bytesPerUnit} B  ${r.objectsPerUnit}×  ${r.what}`);
    return s;
  }

  /** Deletes the snapshot files (kept when `BENCH_KEEP_HEAP` is set, for a closer look). */
  dispose(): void {
    if (process.env.BENCH_KEEP_HEAP) {
      this.ctx.log(`  heap snapshots kept: ${this.#files.join(" ")}`);
      return;
    }
    for (const f of this.#files) rmSync(f, { force: true });
  }
}

const LIVE = 'pgsync_bridges{state="LIVE"}';

async function liveBridges(pgsync: PgSync): Promise<number> {
  return sample(await scrape(pgsync.url), LIVE);
}

/** Peak RSS over ten samples 100 ms apart (a measurement window, not a synchronisation). */
async function peakRss(pid: number): Promise<number> {
  let peak = 0;
  for (let i = 0; i < 10; i++) {
    peak = Math.max(peak, await rssMB(pid));
    await new Promise((r) => setTimeout(r, 100));
  }
  return peak;
}

export async function runManySources(ctx: Context, p: ManyParams): Promise<void> {
  ctx.parameters.many_sources = p;
  const url = await ctx.cluster.createDatabase("many", { synchronousCommit: true });
  const sql = new pg.Pool({ connectionString: url, max: 2 });
  ctx.cleanup.add("many pool", () => sql.end());
  for (let t = 0; t < p.tables; t++) await createBenchTable(sql, `m${t}`);
  const shape = await startShapeServer(ctx.cleanup, url);
  const profile = ctx.profileDir ? { cpuProfDir: ctx.profileDir } : {};
  const heapEnv = p.heapSnapshots ? { env: { NODE_OPTIONS: "--heapsnapshot-signal=SIGUSR2" } } : {};
  let pgsync = await startPgSync(ctx.cleanup, url, shape.url, { ...profile, ...heapEnv });
  const study = new HeapStudy(ctx, p.heapSnapshots === true);
  ctx.cleanup.add("heap snapshots", () => study.dispose());
  await pgsync.client.listSources({});
  const idleRss = await peakRss(pgsync.pid);
  await study.at(pgsync, "idle");
  ctx.log(`P7/P9: pg-sync idle with no sources: RSS ${round(idleRss)} MB`);

  // First start: register every source (a probe and a first cursor each) until all are LIVE.
  ctx.log(`  registering ${p.sources} sources (${p.registerConcurrency} at a time)`);
  const refs: string[] = [];
  const registerStart = Date.now();
  let next = 0;
  await Promise.all(
    Array.from({ length: p.registerConcurrency }, async () => {
      while (next < p.sources) {
        const k = next++;
        const res = await pgsync.client.registerSource({
          options: { table: `m${k % p.tables}`, where: `bucket = ${k}` },
        });
        refs[k] = res.sourceRef;
      }
    }),
  );
  const registeredAt = Date.now();
  const firstLiveAt = await pollUntil(async () => (await liveBridges(pgsync)) >= p.sources, {
    timeoutMs: 300_000,
    intervalMs: 50,
    what: `${p.sources} bridges LIVE`,
  });
  const firstMs = firstLiveAt - registerStart;
  ctx.log(
    `  all LIVE ${firstMs} ms after the first RegisterSource (registration took ${registeredAt - registerStart} ms)`,
  );
  const sourcesRss = await peakRss(pgsync.pid);
  await study.at(pgsync, "sources");

  // P9: one idle WatchWakes stream per source.
  const refsFile = join(ctx.cluster.dir, "..", "refs.txt");
  writeFileSync(refsFile, refs.join("\n"));
  const watcher = startClient(ctx, "watcher", [
    ...["--url", pgsync.url, "--token", TOKENS.a, "--refs-file", refsFile],
    ...["--streams", String(p.sources), "--connections", String(p.streamConnections)],
  ]);
  await watcher.line(/^ready /, 120_000);
  await pollUntil(async () => sample(await scrape(pgsync.url), "pgsync_watch_streams") >= p.sources, {
    timeoutMs: 30_000,
    what: `${p.sources} open streams`,
  });
  const streamsRss = await peakRss(pgsync.pid);
  await study.at(pgsync, "streams");
  const perSource = study.summary(0, 1, p.sources, "source");
  const perStream = study.summary(1, 2, p.sources, "stream");
  ctx.log(
    `  RSS with ${p.sources} sources: ${round(sourcesRss)} MB; plus ${p.sources} open streams: ${round(streamsRss)} MB`,
  );
  await watcher.stop();

  // P7: SIGTERM, start again, time until every source is LIVE.
  const stopStart = Date.now();
  await pgsync.stop();
  const stopMs = Date.now() - stopStart;
  const restartAt = Date.now();
  pgsync = await startPgSync(ctx.cleanup, url, shape.url, profile);
  const listeningMs = Date.now() - restartAt;
  const liveAt = await pollUntil(async () => (await liveBridges(pgsync)) >= p.sources, {
    timeoutMs: 300_000,
    intervalMs: 50,
    what: `${p.sources} bridges LIVE after the restart`,
  });
  const restartMs = liveAt - restartAt;
  const restartedRss = await peakRss(pgsync.pid);
  const soak = await soakMemory(ctx, pgsync, Number(process.env.BENCH_SOAK_MS ?? 0));
  ctx.log(
    `  restart: stop took ${stopMs} ms; all LIVE ${restartMs} ms after spawning (listening after ${listeningMs} ms)`,
  );
  ctx.breakdown.P7 = {
    sources: p.sources,
    first_start_ms: firstMs,
    registration_ms: registeredAt - registerStart,
    stop_ms: stopMs,
    restart_listening_ms: listeningMs,
    restart_all_live_ms: restartMs,
  };
  ctx.breakdown.P9 = {
    idle_no_sources_mb: round(idleRss),
    sources_no_streams_mb: round(sourcesRss),
    sources_and_streams_mb: round(streamsRss),
    after_restart_no_streams_mb: round(restartedRss),
    v8_mb: study.memory,
    ...(soak.length > 0 ? { soak_after_restart: soak } : {}),
    ...(perSource ? { heap_per_source: perSource } : {}),
    ...(perStream ? { heap_per_stream: perStream } : {}),
  };
  addResult(ctx, {
    id: "P7",
    name: `restart with ${p.sources} sources: spawn → all LIVE (baseline: first start, registration → all LIVE)`,
    value: restartMs / 1000,
    unit: "s",
    baseline: firstMs / 1000,
    goal: 30,
    cmp: "<=",
  });
  addResult(ctx, {
    id: "P9",
    name: `RSS with ${p.sources} sources + ${p.sources} open idle streams (baseline: idle, no sources)`,
    value: streamsRss,
    unit: "MB",
    baseline: idleRss,
    goal: 250,
    cmp: "<=",
  });
  await pgsync.stop();
  await shape.stop();
}
