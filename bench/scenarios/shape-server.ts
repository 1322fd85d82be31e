/**
 * Shape-server throughput (the first benchmark of the harness, kept as context for P1): a bare
 * pgoutput consumer, then 1 and N ShapeStreams (in the orchestrator) on the bundled shape server.
 */
import { type ChangeMessage, isChangeMessage, type Row, ShapeStream } from "@electric-sql/client";
import pg from "pg";
import { Child } from "../lib/child.js";
import { cpuSeconds, treeCpuSeconds } from "../lib/cpu.js";
import { createBenchTable, startShapeServer } from "../lib/stack.js";
import { addResult, type Context, rate, round, startLoad } from "./context.js";

/** Sizes of the shape-server scenarios. */
export interface ShapeParams {
  readonly rows: number;
  readonly shapes: number;
}

/** Default sizes. */
export function shapeParams(quick: boolean): ShapeParams {
  return { rows: quick ? 20_000 : 200_000, shapes: 100 };
}

interface Shape {
  table: string;
  where?: string;
  params?: string[];
}

/** Runs ShapeStreams until they have received `expected` changes in total; returns the time of the last. */
async function consume(
  url: string,
  shapes: Shape[],
  expected: number,
  onReady: () => Promise<void>,
): Promise<number> {
  const aborter = new AbortController();
  let received = 0;
  let lastChangeAt = 0;
  let ready = 0;
  let resolveDone!: () => void;
  let resolveReady!: () => void;
  const done = new Promise<void>((r) => (resolveDone = r));
  const allReady = new Promise<void>((r) => (resolveReady = r));
  const errors: unknown[] = [];
  for (const shape of shapes) {
    const stream = new ShapeStream<Row>({
      url,
      params: { table: shape.table, ...(shape.where ? { where: shape.where, params: shape.params } : {}) },
      signal: aborter.signal,
      onError: (err) => {
        errors.push(err);
      },
    });
    let upToDate = false;
    stream.subscribe((messages) => {
      for (const m of messages) {
        if (isChangeMessage(m as ChangeMessage<Row>)) {
          if (++received === expected) {
            lastChangeAt = Date.now();
            resolveDone();
          }
        } else if (!upToDate && "control" in m.headers && m.headers.control === "up-to-date") {
          upToDate = true;
          if (++ready === shapes.length) resolveReady();
        }
      }
    });
  }
  await allReady;
  await onReady();
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(
      () => reject(new Error(`only ${received}/${expected} changes after 10 min; ${errors.join("; ")}`)),
      600_000,
    );
  });
  try {
    await Promise.race([done, timeout]);
  } finally {
    clearTimeout(timer);
    aborter.abort();
  }
  return lastChangeAt;
}

export async function runShapeServer(ctx: Context, p: ShapeParams): Promise<void> {
  ctx.parameters.shape_server = p;
  const url = await ctx.cluster.createDatabase("shapes");
  const sql = new pg.Pool({ connectionString: url, max: 2 });
  ctx.cleanup.add("shapes pool", () => sql.end());
  const postmaster = ctx.cluster.postmasterPid;

  // Baseline: a bare pgoutput consumer and the commit rate of the same load.
  await createBenchTable(sql, "s_raw");
  ctx.log(`S: bare pg-logical-replication consumer, ${p.rows} rows`);
  const raw = new Child("bench/raw-consumer.ts", [
    "--url",
    url,
    "--table",
    "s_raw",
    "--rows",
    String(p.rows),
  ]);
  ctx.cleanup.add("raw consumer", () => raw.stop());
  await raw.line(/^ready$/);
  const load = await startLoad(ctx, url, "s_raw", { rows: p.rows, batch: 100, connections: 2 }).result;
  const rawDone = Number((await raw.line(/^done (\d+)/, 600_000))[1]);
  await raw.exited();
  const insertRate = rate(p.rows, load.start, load.done);
  const rawRate = rate(p.rows, load.start, rawDone);

  const shape = await startShapeServer(ctx.cleanup, url);
  const scenario = async (
    table: string,
    shapes: Shape[],
  ): Promise<{ rate: number; cpu: Record<string, number> }> => {
    await createBenchTable(sql, table);
    let cpu0 = { postgres: 0, shapeServer: 0 };
    let loadRun: ReturnType<typeof startLoad> | undefined;
    const lastChangeAt = await consume(shape.url, shapes, p.rows, async () => {
      cpu0 = { postgres: treeCpuSeconds(postmaster), shapeServer: cpuSeconds(shape.pid) };
      ctx.log(`  ${shapes.length} shape(s) synced, inserting ${p.rows} rows`);
      loadRun = startLoad(ctx, url, table, {
        rows: p.rows,
        batch: 100,
        connections: 2,
        buckets: shapes.length,
      });
    });
    const l = await loadRun!.result;
    const cpu = {
      postgres: round(treeCpuSeconds(postmaster) - cpu0.postgres),
      shape_server: round(cpuSeconds(shape.pid) - cpu0.shapeServer),
    };
    return { rate: rate(p.rows, l.start, lastChangeAt), cpu };
  };
  const single = await scenario("s_one", [{ table: "s_one" }]);
  const many = await scenario(
    "s_many",
    Array.from({ length: p.shapes }, (_, k) => ({
      table: "s_many",
      where: "bucket = $1",
      params: [String(k)],
    })),
  );
  await shape.stop();
  ctx.breakdown.shape_server = { cpu_s: { single: single.cpu, many: many.cpu } };
  addResult(ctx, {
    id: "S1",
    name: "shape server: insert → ShapeStream, 1 shape without where (baseline: bare pgoutput consumer)",
    value: single.rate,
    unit: "changes/s",
    baseline: rawRate,
    goal: 5_000,
  });
  addResult(ctx, {
    id: "S2",
    name: `shape server: insert → ${p.shapes} ShapeStreams (where bucket = $1) on one table (baseline: bare pgoutput consumer)`,
    value: many.rate,
    unit: "changes/s",
    baseline: rawRate,
    goal: null,
  });
  addResult(ctx, {
    id: "S0",
    name: "bare pg-logical-replication pgoutput consumer (baseline: Postgres insert commit rate)",
    value: rawRate,
    unit: "changes/s",
    baseline: insertRate,
    goal: null,
  });
}
