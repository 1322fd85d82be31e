/**
 * pg-sync scenarios on one shape server and one pg-sync process (state in the same database):
 * P1 ingest, P2 fan-out, P3 added latency (server histograms), P4 commit → wake received vs
 * trigger + LISTEN/NOTIFY, P5 cursor writes per batch, P10 unary latency.
 */
import pg from "pg";
import { SourceState } from "../../gen/pgsync/v1/source_pb.js";
import { TOKENS } from "../../scripts/lib/processes.js";
import { cpuSeconds, treeCpuSeconds } from "../lib/cpu.js";
import { loggedLatencies, watchLogHead } from "../lib/log-head.js";
import {
  type Histogram,
  histogram,
  histogramDelta,
  histogramQuantile,
  pollUntil,
  quantiles,
  sample,
  scrape,
} from "../lib/metrics.js";
import { createBenchTable, type PgSync, startPgSync, startShapeServer } from "../lib/stack.js";
import {
  addResult,
  type Context,
  rate,
  recordDistribution,
  recordSeries,
  round,
  startClient,
  startLoad,
} from "./context.js";

type Quantiles = ReturnType<typeof quantiles>;

/** Sizes of the sync scenarios. */
export interface SyncParams {
  /** Rows of the P1 load (bulk, 100-row transactions). */
  readonly ingestRows: number;
  /** Rows of each P2 load. */
  readonly fanoutRows: number;
  /** Watchers in P2. */
  readonly watchers: number;
  /** Steady rate (rows/s, single-row transactions) and duration of P3/P4. */
  readonly steadyRate: number;
  readonly steadySeconds: number;
  /** Measured calls per method in P10. */
  readonly rpcCalls: number;
  /** Parts to run (default all): ingest (P1), fanout (P2), latency (P3/P4), unary (P10); P5 covers what ran. */
  readonly parts?: readonly string[];
}

/** Default sizes. */
export function syncParams(quick: boolean): SyncParams {
  return quick
    ? {
        ingestRows: 20_000,
        fanoutRows: 3_000,
        watchers: 10,
        steadyRate: 1_000,
        steadySeconds: 5,
        rpcCalls: 500,
      }
    : {
        ingestRows: 100_000,
        fanoutRows: 20_000,
        watchers: 10,
        steadyRate: 1_000,
        steadySeconds: 30,
        rpcCalls: 3_000,
      };
}

const CHANGES_LOGGED = "pgsync_changes_logged_total";

/** CPU seconds of Postgres (postmaster and backends), the shape server and pg-sync since creation. */
function cpuMeter(ctx: Context, shapePid: number, pgsyncPid: number): () => Record<string, number> {
  const read = () => ({
    postgres: treeCpuSeconds(ctx.cluster.postmasterPid),
    shape_server: cpuSeconds(shapePid),
    pg_sync: cpuSeconds(pgsyncPid),
  });
  const start = read();
  return () => {
    const now = read();
    return {
      postgres: round(now.postgres - start.postgres),
      shape_server: round(now.shape_server - start.shape_server),
      pg_sync: round(now.pg_sync - start.pg_sync),
    };
  };
}

async function registerLive(pgsync: PgSync, table: string): Promise<string> {
  const { sourceRef } = await pgsync.client.registerSource({ options: { table } });
  // The bridge starts after RegisterSource returns: wait until it streams (LIVE).
  await pollUntil(
    async () => (await pgsync.client.getCursor({ sourceRef })).cursor?.state === SourceState.LIVE,
    { timeoutMs: 30_000, what: `source on ${table} LIVE` },
  );
  return sourceRef;
}

export async function runSync(ctx: Context, p: SyncParams): Promise<void> {
  ctx.parameters.sync = p;
  const url = await ctx.cluster.createDatabase("sync", { synchronousCommit: true });
  const sql = new pg.Pool({ connectionString: url, max: 2 });
  ctx.cleanup.add("sync pool", () => sql.end());
  const shape = await startShapeServer(ctx.cleanup, url);
  const pgsync = await startPgSync(ctx.cleanup, url, shape.url, {
    ...(ctx.profileDir ? { cpuProfDir: ctx.profileDir } : {}),
  });
  ctx.log(`pg-sync ${pgsync.url} (pid ${pgsync.pid}), shape server ${shape.origin}`);
  const m0 = await scrape(pgsync.url);

  const meter = (): (() => Record<string, number>) => cpuMeter(ctx, shape.pid, pgsync.pid);
  const runs = (part: string): boolean => !p.parts || p.parts.includes(part);
  if (runs("ingest")) await ingest(ctx, p, url, sql, pgsync, shape.url, meter);
  if (runs("fanout")) await fanOut(ctx, p, url, sql, pgsync);
  if (runs("latency")) await latency(ctx, p, url, sql, pgsync, shape.url, meter);

  // P5 over everything P1–P4 did.
  const m1 = await scrape(pgsync.url);
  const delta = (s: string): number => sample(m1, s) - sample(m0, s);
  const batches = delta("pgsync_electric_batches_total");
  const writes = delta("pgsync_cursor_writes_total");
  const changes = delta(CHANGES_LOGGED);
  ctx.log(`P5: ${writes} cursor writes, ${batches} Electric batches, ${changes} changes`);
  ctx.breakdown.P5 = { cursor_writes: writes, electric_batches: batches, changes_logged: changes };
  addResult(ctx, {
    id: "P5",
    name: "cursor writes per Electric batch over the P1–P4 loads (baseline: changes per batch, i.e. one write per change)",
    value: writes / batches,
    unit: "writes/batch",
    baseline: changes / batches,
    goal: 1,
    cmp: "<=",
  });

  if (runs("unary")) await unary(ctx, p, pgsync);
  await pgsync.stop();
  await shape.stop();
}

/** P1: changes/s logged by pg-sync vs a raw ShapeStream consumer, same shape server and load. */
async function ingest(
  ctx: Context,
  p: SyncParams,
  url: string,
  sql: pg.Pool,
  pgsync: PgSync,
  shapeUrl: string,
  meter: () => () => Record<string, number>,
): Promise<void> {
  const rows = p.ingestRows;
  await createBenchTable(sql, "p1");
  const sourceRef = await registerLive(pgsync, "p1");
  const head = await watchLogHead(url, sourceRef);
  const raw = startClient(ctx, "shape-consumer", [
    "--url",
    shapeUrl,
    "--table",
    "p1",
    "--expect",
    String(rows),
  ]);
  await raw.line(/^ready$/);
  ctx.log(`P1 ingest: ${rows} rows in 100-row transactions; pg-sync and a raw ShapeStream consume them`);
  const cpu = meter();
  const load = startLoad(ctx, url, "p1", { rows, batch: 100, connections: 2 });
  // The end is the commit that logged the last change, from its NOTIFY (not by scraping pg-sync).
  const loggedAt = await head.reached(rows, 600_000);
  await head.close();
  const rawAt = Number((await raw.line(/^done (\d+)/, 600_000))[1]);
  const l = await load.result;
  const logged = rate(rows, l.start, loggedAt);
  const seen = rate(rows, l.start, rawAt);
  ctx.breakdown.P1 = {
    rows,
    insert_commit_rate: round(rate(rows, l.start, l.done)),
    pgsync_elapsed_ms: loggedAt - l.start,
    raw_elapsed_ms: rawAt - l.start,
    cpu_s: cpu(),
  };
  recordSeries(
    ctx,
    "P1: changes logged by pg-sync",
    "changes",
    head.commits.map(({ at, head: n }) => [at - l.start, n]),
  );
  addResult(ctx, {
    id: "P1",
    name: "ingest: changes/s logged by pg-sync (baseline: raw ShapeStream consumer, same shape server and load)",
    value: logged,
    unit: "changes/s",
    baseline: seen,
    goal: 5_000,
  });
  addResult(ctx, {
    id: "P1_ratio",
    name: "ingest ratio pg-sync / raw ShapeStream (goal ≥ 0.85, issue 17)",
    value: logged / seen,
    unit: "×",
    baseline: null,
    goal: 0.85,
  });
}

/** Runs `watchers` streams on a fresh source while `rows` rows are inserted; wakes/s received. */
async function wakesPerSecond(
  ctx: Context,
  url: string,
  sql: pg.Pool,
  pgsync: PgSync,
  table: string,
  rows: number,
  watchers: number,
): Promise<{ rate: number; wakes: number; changes: number; elapsedMs: number }> {
  await createBenchTable(sql, table);
  const ref = await registerLive(pgsync, table);
  const watcher = startClient(ctx, "watcher", [
    ...["--url", pgsync.url, "--token", TOKENS.a, "--refs", ref],
    ...["--streams", String(watchers), "--expect", String(rows)],
  ]);
  await watcher.line(/^ready /);
  const load = startLoad(ctx, url, table, { rows, batch: 100, connections: 2 });
  const done = await watcher.line(/^done (\d+) (.*)$/, 600_000);
  const l = await load.result;
  const at = Number(done[1]);
  const counts = JSON.parse(done[2]!) as { wakes: number; changes: number };
  return { rate: rate(counts.wakes, l.start, at), ...counts, elapsedMs: at - l.start };
}

/** P2: wakes/s to N watchers of one source vs one watcher on the same load. */
async function fanOut(ctx: Context, p: SyncParams, url: string, sql: pg.Pool, pgsync: PgSync): Promise<void> {
  ctx.log(
    `P2 fan-out: ${p.fanoutRows} rows, 1 watcher (baseline), then ${p.watchers} watchers of one source`,
  );
  const one = await wakesPerSecond(ctx, url, sql, pgsync, "p2_one", p.fanoutRows, 1);
  ctx.log(`  1 watcher: ${round(one.rate)} wakes/s`);
  const many = await wakesPerSecond(ctx, url, sql, pgsync, "p2_many", p.fanoutRows, p.watchers);
  ctx.breakdown.P2 = {
    rows: p.fanoutRows,
    one_watcher: one,
    many_watchers: { watchers: p.watchers, ...many },
  };
  addResult(ctx, {
    id: "P2",
    name: `fan-out: wakes/s to ${p.watchers} watchers of one source, debounce 0 (baseline: 1 watcher, same load)`,
    value: many.rate,
    unit: "wakes/s",
    baseline: one.rate,
    goal: 10_000,
  });
}

/** P3 (server histograms) and P4 (commit → wake at the client vs trigger + LISTEN/NOTIFY). */
async function latency(
  ctx: Context,
  p: SyncParams,
  url: string,
  sql: pg.Pool,
  pgsync: PgSync,
  shapeUrl: string,
  meter: () => () => Record<string, number>,
): Promise<void> {
  const rows = p.steadyRate * p.steadySeconds;
  await createBenchTable(sql, "p4");
  await sql.query(`CREATE FUNCTION bench_notify() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN PERFORM pg_notify('bench_rows', NEW.ts::text); RETURN NEW; END $$`);
  await sql.query(
    "CREATE TRIGGER bench_notify AFTER INSERT ON p4 FOR EACH ROW EXECUTE FUNCTION bench_notify()",
  );
  const ref = await registerLive(pgsync, "p4");
  // Each commit's NOTIFY splits P4 into insert commit → logged by pg-sync, and the rest.
  const head = await watchLogHead(url, ref);
  const watcher = startClient(ctx, "watcher", [
    ...["--url", pgsync.url, "--token", TOKENS.a, "--refs", ref],
    ...["--expect", String(rows), "--latency"],
  ]);
  const listener = startClient(ctx, "listener", [
    "--url",
    url,
    "--channel",
    "bench_rows",
    "--expect",
    String(rows),
  ]);
  const shapeStream = startClient(ctx, "shape-consumer", [
    ...["--url", shapeUrl, "--table", "p4", "--expect", String(rows), "--latency"],
  ]);
  await Promise.all([watcher.line(/^ready /), listener.line(/^ready$/), shapeStream.line(/^ready$/)]);
  ctx.log(
    `P3/P4 latency: ${rows} single-row transactions at ${p.steadyRate}/s; a watcher and a LISTEN client receive them`,
  );
  const before = await scrape(pgsync.url);
  const cpu = meter();
  const load = startLoad(ctx, url, "p4", { rows, rate: p.steadyRate, connections: 4 });
  const wake = await watcher.json<Quantiles>("latency", 600_000);
  const notify = await listener.json<Quantiles>("latency", 600_000);
  const electric = await shapeStream.json<Quantiles>("latency", 600_000);
  recordDistribution(ctx, "P4: commit → received", "ms", {
    "pg-sync wake": await watcher.json<number[]>("latency_samples"),
    "trigger + NOTIFY (baseline)": await listener.json<number[]>("latency_samples"),
    "raw ShapeStream": await shapeStream.json<number[]>("latency_samples"),
  });
  const l = await load.result;
  const after = await scrape(pgsync.url);
  const cpuUsed = cpu();
  await head.reached(rows, 60_000);
  await head.close();
  const loggedMs = await loggedLatencies(sql, ref, head.commits);
  const achieved = rate(rows, l.start, l.done);

  const h = (name: string): Histogram => histogramDelta(histogram(before, name), histogram(after, name));
  const commit = h("pgsync_batch_commit_seconds");
  const dispatch = h("pgsync_wake_dispatch_seconds");
  const ms = (hist: Histogram, q: number): number => histogramQuantile(hist, q) * 1000;
  const added = (q: number): number => ms(commit, q) + ms(dispatch, q);
  const reads = (from: string): number =>
    sample(after, `pgsync_log_reads_total{from="${from}"}`) -
    sample(before, `pgsync_log_reads_total{from="${from}"}`);
  ctx.breakdown.P3 = {
    achieved_rate: round(achieved),
    // the watcher's log reads: just-committed entries served from memory, or read from Postgres
    log_reads: { memory: reads("memory"), postgres: reads("postgres") },
    batch_commit_ms: {
      n: commit.count,
      p50: ms(commit, 0.5),
      p99: ms(commit, 0.99),
      mean: (commit.sum / commit.count) * 1000,
    },
    wake_dispatch_ms: {
      n: dispatch.count,
      p50: ms(dispatch, 0.5),
      p99: ms(dispatch, 0.99),
      mean: (dispatch.sum / dispatch.count) * 1000,
    },
  };
  ctx.breakdown.P4 = {
    rows,
    achieved_rate: round(achieved),
    wake_ms: wake,
    // insert commit → the commit that logged the change announced (NOTIFY at a LISTEN client):
    // upstream (see shape_stream_ms) plus the bridge; wake_ms minus this is dispatch and delivery.
    logged_ms: quantiles(loggedMs),
    notify_ms: notify,
    shape_stream_ms: electric,
    cpu_s: cpuUsed,
  };
  const atRate = `at ${round(achieved)} changes/s`;
  addResult(ctx, {
    id: "P3_p50",
    name: `latency pg-sync adds, p50 of batch commit + p50 of wake dispatch ${atRate} (baseline: trigger + NOTIFY p50)`,
    value: added(0.5),
    unit: "ms",
    baseline: notify.p50,
    goal: 5,
    cmp: "<=",
  });
  addResult(ctx, {
    id: "P3_p99",
    name: `latency pg-sync adds, p99 of batch commit + p99 of wake dispatch ${atRate} (baseline: trigger + NOTIFY p99)`,
    value: added(0.99),
    unit: "ms",
    baseline: notify.p99,
    goal: 25,
    cmp: "<=",
  });
  addResult(ctx, {
    id: "P4_p50",
    name: `commit → wake received, p50 ${atRate} (baseline: trigger + LISTEN/NOTIFY p50)`,
    value: wake.p50,
    unit: "ms",
    baseline: notify.p50,
    goal: 8,
    cmp: "<=",
  });
  addResult(ctx, {
    id: "P4_shape_p99",
    name: `context for P4: commit → raw ShapeStream received from the shape server, p99 ${atRate} (baseline: trigger + LISTEN/NOTIFY p99)`,
    value: electric.p99,
    unit: "ms",
    baseline: notify.p99,
    goal: null,
  });
  addResult(ctx, {
    id: "P4_p99",
    name: `commit → wake received, p99 ${atRate} (baseline: trigger + LISTEN/NOTIFY p99)`,
    value: wake.p99,
    unit: "ms",
    baseline: notify.p99,
    goal: 30,
    cmp: "<=",
  });
}

/** P10: RegisterSource (existing ref) and GetCursor p99 vs health Check p99 on the same connection. */
async function unary(ctx: Context, p: SyncParams, pgsync: PgSync): Promise<void> {
  ctx.log(`P10 unary latency: ${p.rpcCalls} sequential rounds of RegisterSource, GetCursor, Health.Check`);
  const client = startClient(ctx, "rpc-latency", [
    ...["--url", pgsync.url, "--token", TOKENS.a, "--table", "p1"],
    ...["--calls", String(p.rpcCalls)],
  ]);
  const r = await client.json<{ register: Quantiles; getCursor: Quantiles; health: Quantiles }>(
    "result",
    600_000,
  );
  ctx.breakdown.P10 = r;
  addResult(ctx, {
    id: "P10_register_p99",
    name: "RegisterSource of an existing ref, p99 (baseline: grpc.health.v1 Check p99, same connection)",
    value: r.register.p99,
    unit: "ms",
    baseline: r.health.p99,
    goal: 20,
    cmp: "<=",
  });
  addResult(ctx, {
    id: "P10_getcursor_p99",
    name: "GetCursor p99 (baseline: grpc.health.v1 Check p99, same connection)",
    value: r.getCursor.p99,
    unit: "ms",
    baseline: r.health.p99,
    goal: 5,
    cmp: "<=",
  });
}
