/**
 * P7 restart with many sources and P9 memory with many sources and open streams, on a database,
 * shape server and pg-sync of their own.
 */
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import pg from "pg";
import { TOKENS } from "../../scripts/lib/processes.js";
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
}

/** Default sizes (the same in quick and full runs: the goals are stated for 1,000 sources). */
export function manyParams(): ManyParams {
  return { sources: 1_000, tables: 4, registerConcurrency: 8, streamConnections: 10 };
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
  let pgsync = await startPgSync(ctx.cleanup, url, shape.url, profile);
  await pgsync.client.listSources({});
  const idleRss = await peakRss(pgsync.pid);
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
    goal: 300,
    cmp: "<=",
  });
  await pgsync.stop();
  await shape.stop();
}
