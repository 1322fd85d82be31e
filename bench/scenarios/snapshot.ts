/**
 * Snapshot delivery (issue 16): a table of `rows` rows, read (1) by a raw `fetchSnapshot` of the
 * source's shape with the Electric client in this process (one request, every row: the baseline)
 * and (2) through pg-sync as a WatchWakes stream with START_POSITION_SNAPSHOT until Ready (paged
 * subset snapshots, rows as wakes). Reports rows/s of both and pg-sync's peak RSS while it
 * delivers. Same database, shape server and run.
 */
import { type Row, ShapeStream } from "@electric-sql/client";
import pg from "pg";
import { StartPosition } from "../../gen/pgsync/v1/wake_pb.js";
import { rssMB } from "../lib/metrics.js";
import { createBenchTable, startPgSync, startShapeServer } from "../lib/stack.js";
import { addResult, type Context, rate, round } from "./context.js";

/** First id: 1,000,000 rows from here all have seven digits. */
const FIRST_ID = 1_000_000;

/** Sizes of the snapshot scenario. */
export interface SnapshotParams {
  /** Rows in the table. */
  readonly rows: number;
  /** PGSYNC_SNAPSHOT_PAGE_ROWS. */
  readonly pageRows: number;
  /** max_changes_per_wake of the stream. */
  readonly maxChangesPerWake: number;
}

/** Default sizes: 1,000,000 rows (100,000 with --quick). */
export function snapshotParams(quick: boolean): SnapshotParams {
  return { rows: quick ? 100_000 : 1_000_000, pageRows: 5_000, maxChangesPerWake: 1_000 };
}

/** Samples `pid`'s RSS every 100 ms until stopped; returns the peak in MB. */
function peakRss(pid: number): { stop: () => Promise<number> } {
  let peak = 0;
  let running = true;
  const loop = (async () => {
    while (running) {
      peak = Math.max(peak, await rssMB(pid).catch(() => 0));
      await new Promise((r) => setTimeout(r, 100));
    }
  })();
  return {
    async stop() {
      running = false;
      await loop;
      return peak;
    },
  };
}

/** Runs the scenario. */
export async function runSnapshot(ctx: Context, p: SnapshotParams): Promise<void> {
  const url = await ctx.cluster.createDatabase("snapshot", { synchronousCommit: false });
  const sql = new pg.Client({ connectionString: url });
  await sql.connect();
  const closeSql = ctx.cleanup.add("snapshot client", () => sql.end());
  await createBenchTable(sql, "snap");
  // Ids of one width (7 digits): the bundled shape server orders subset pages by the key's text
  // form (Electric orders by the column), and with one width both orders agree.
  await sql.query(
    "INSERT INTO snap (id, bucket, payload) SELECT g, g % 16, repeat('x', 32) FROM generate_series($1::int8, $1::int8 + $2 - 1) g",
    [FIRST_ID, p.rows],
  );
  await sql.query("ANALYZE snap");
  ctx.log(`  table snap: ${p.rows} rows`);
  const shape = await startShapeServer(ctx.cleanup, url);
  const pgsync = await startPgSync(ctx.cleanup, url, shape.url, {
    env: { PGSYNC_SNAPSHOT_PAGE_ROWS: String(p.pageRows) },
  });
  const { sourceRef } = await pgsync.client.registerSource({ options: { table: "snap" } });

  const rawStart = Date.now();
  const stream = new ShapeStream<Row<unknown>>({
    url: shape.url,
    params: { table: "snap" },
    log: "changes_only",
    offset: "now",
  });
  const raw = await stream.fetchSnapshot({ where: "true" });
  const rawDone = Date.now();
  if (raw.data.length !== p.rows) throw new Error(`raw fetchSnapshot gave ${raw.data.length} rows`);
  const rawRate = rate(p.rows, rawStart, rawDone);

  const rss = peakRss(pgsync.pid);
  const rssBefore = await rssMB(pgsync.pid);
  const start = Date.now();
  let rows = 0;
  const aborter = new AbortController();
  for await (const frame of pgsync.client.watchWakes(
    {
      sourceRefs: [sourceRef],
      start: { case: "startPosition", value: StartPosition.SNAPSHOT },
      maxChangesPerWake: p.maxChangesPerWake,
    },
    { signal: aborter.signal },
  )) {
    if (frame.event.case === "wake") rows += frame.event.value.changes.filter((c) => c.snapshot).length;
    if (frame.event.case === "ready") break;
  }
  const done = Date.now();
  aborter.abort();
  const peak = await rss.stop();
  if (rows !== p.rows) throw new Error(`pg-sync delivered ${rows} snapshot rows of ${p.rows}`);
  const pgsyncRate = rate(rows, start, done);
  addResult(ctx, {
    id: "snapshot_rows_per_s",
    name: `Snapshot delivery, ${p.rows} rows (WatchWakes START_POSITION_SNAPSHOT vs raw fetchSnapshot)`,
    value: pgsyncRate,
    unit: "rows/s",
    baseline: rawRate,
    goal: null,
  });
  addResult(ctx, {
    id: "snapshot_peak_rss_mb",
    name: "pg-sync peak RSS while delivering the snapshot",
    value: peak,
    unit: "MB",
    baseline: rssBefore,
    goal: null,
    cmp: "<=",
  });
  ctx.breakdown.snapshot = {
    rows: p.rows,
    page_rows: p.pageRows,
    max_changes_per_wake: p.maxChangesPerWake,
    raw_fetch_snapshot_s: round((rawDone - rawStart) / 1000),
    pgsync_snapshot_s: round((done - start) / 1000),
    pgsync_rss_before_mb: round(rssBefore),
    pgsync_rss_peak_mb: round(peak),
  };
  ctx.parameters.snapshot = p;
  await pgsync.stop();
  await shape.stop();
  await closeSql();
}
