/**
 * Log retention at scale: one pruning pass over 1,000 sources whose logs hold N changes in all,
 * at two table sizes (the larger is the figure, the smaller its same-run baseline). Each pass
 * deletes the same number of rows at both sizes (the oldest `doomedPerSource` of every source,
 * by age, then by count), so a cost independent of table size shows as a ratio near 1. The logs
 * are loaded with generate_series INSERTs in SQL (pg-sync's commit path is measured elsewhere).
 * The plan of the pass is checked for a scan of the whole log.
 */
import pg from "pg";
import { migrate } from "../../src/storage/migrate.js";
import { pruneChangeLog, pruneStatement } from "../../src/storage/pg-retention.js";
import type { BenchResult } from "../lib/report.js";
import { addResult, type Context, round } from "./context.js";

/** Sizes of the retention scenario. */
export interface RetentionParams {
  readonly sources: number;
  /** Total logged changes: baseline size, then figure size. */
  readonly sizes: readonly [number, number];
  /** Entries per source past the bound in each pass. */
  readonly doomedPerSource: number;
}

/** Default sizes: 1 M vs 10 M (quick: 100 k vs 1 M). */
export function retentionParams(quick: boolean): RetentionParams {
  return {
    sources: 1_000,
    sizes: quick ? [100_000, 1_000_000] : [1_000_000, 10_000_000],
    doomedPerSource: 10,
  };
}

/** Loads `total` changes over `sources` sources (seq 1..per source), in chunks of sources. */
async function load(pool: pg.Pool, p: RetentionParams, total: number): Promise<void> {
  const per = Math.floor(total / p.sources);
  await pool.query(
    `INSERT INTO pgsync.sources (tenant, source_ref, options, shape_url)
     SELECT 't', 's' || lpad(s::text, 5, '0'), '{}', 'http://x' FROM generate_series(1, $1) s`,
    [p.sources],
  );
  await pool.query(
    `INSERT INTO pgsync.cursors (tenant, source_ref, generation, shape_handle, shape_offset, head_seq)
     SELECT 't', source_ref, 1, 'h', $1::text || '_0', $1::bigint FROM pgsync.sources`,
    [per],
  );
  const chunk = Math.max(1, Math.floor(2_000_000 / per));
  for (let from = 1; from <= p.sources; from += chunk) {
    await pool.query(
      `INSERT INTO pgsync.changes (tenant, source_ref, seq, kind, shape_offset, operation, key, value, txids, created_at)
       SELECT 't', 's' || lpad(s::text, 5, '0'), q, 'change', q || '_0', 'insert', 'k' || q,
              jsonb_build_object('id', q::text, 'payload', 'payload-' || q), ARRAY[q],
              now() - make_interval(hours => CASE WHEN q <= $3 THEN 48 ELSE 1 END)
       FROM generate_series($1::int, $2::int) s, generate_series(1, $4::int) q`,
      [from, Math.min(p.sources, from + chunk - 1), p.doomedPerSource, per],
    );
  }
  await pool.query("VACUUM ANALYZE pgsync.changes");
}

interface PassCost {
  readonly ms: number;
  readonly deleted: number;
  readonly buffers: number;
  readonly wholeLogScan: boolean;
}

/** Buffers the pass touches and whether its plan scans the log sequentially (rolled back). */
async function planOf(pool: pg.Pool, maxAgeMs: number, maxChanges: number) {
  const client = await pool.connect();
  try {
    await client.query("BEGIN");
    const { rows } = await client.query(`EXPLAIN (ANALYZE, BUFFERS, FORMAT JSON) ${pruneStatement()}`, [
      maxAgeMs,
      maxChanges,
      10_000,
    ]);
    const plan = (rows[0] as { "QUERY PLAN": [{ Plan: Record<string, unknown> }] })["QUERY PLAN"][0].Plan;
    let seqScan = false;
    const walk = (node: Record<string, unknown>) => {
      if (node["Node Type"] === "Seq Scan" && node["Relation Name"] === "changes") seqScan = true;
      for (const child of (node.Plans as Record<string, unknown>[] | undefined) ?? []) walk(child);
    };
    walk(plan);
    return {
      buffers: Number(plan["Shared Hit Blocks"] ?? 0) + Number(plan["Shared Read Blocks"] ?? 0),
      wholeLogScan: seqScan,
    };
  } finally {
    await client.query("ROLLBACK");
    client.release();
  }
}

async function measure(ctx: Context, p: RetentionParams, total: number): Promise<Record<string, PassCost>> {
  const url = await ctx.cluster.createDatabase(`retention_${total}`);
  const pool = new pg.Pool({ connectionString: url, max: 2 });
  ctx.cleanup.add(`retention ${total} pool`, () => pool.end());
  await migrate(pool);
  const loadStart = Date.now();
  await load(pool, p, total);
  ctx.log(
    `  loaded ${total.toLocaleString("en-US")} changes in ${((Date.now() - loadStart) / 1000).toFixed(1)} s`,
  );
  const per = Math.floor(total / p.sources);
  const passes: Record<string, PassCost> = {};
  // By age: the oldest doomedPerSource entries of every source are 48 h old, the rest 1 h.
  // By count: then keep all but another doomedPerSource.
  for (const [name, age, count] of [
    ["age", 24 * 3_600_000, 0],
    ["count", 0, per - 2 * p.doomedPerSource],
  ] as const) {
    const plan = await planOf(pool, age, count);
    const t0 = performance.now();
    const deleted = await pruneChangeLog(pool, { maxAgeMs: age, maxChangesPerSource: count });
    passes[name] = { ms: performance.now() - t0, deleted, ...plan };
    ctx.log(
      `  ${name} bound: deleted ${deleted} in ${round(passes[name].ms)} ms, ${plan.buffers} buffers, seq scan of the log: ${plan.wholeLogScan}`,
    );
  }
  return passes;
}

export async function runRetention(ctx: Context, p: RetentionParams): Promise<void> {
  ctx.parameters.retention = p;
  const [small, large] = p.sizes;
  ctx.log(
    `retention: ${p.sources} sources, ${small.toLocaleString("en-US")} then ${large.toLocaleString("en-US")} changes`,
  );
  const base = await measure(ctx, p, small);
  const big = await measure(ctx, p, large);
  ctx.breakdown.retention = { [String(small)]: base, [String(large)]: big };
  const cost = (c: Record<string, PassCost>) => (c.age?.ms ?? 0) + (c.count?.ms ?? 0);
  const scans =
    Object.values(big).some((c) => c.wholeLogScan) || Object.values(base).some((c) => c.wholeLogScan);
  const label = (n: number) => `${n / 1_000_000} M`;
  addResult(ctx, {
    id: "R1",
    name: `prune ${2 * p.doomedPerSource} entries from each of ${p.sources} sources (age, then count) in a ${label(large)}-change log (baseline: same pass on ${label(small)})`,
    value: cost(big),
    unit: "ms",
    baseline: cost(base),
    goal: null,
  });
  addResult(ctx, {
    id: "R1_ratio",
    name: `prune cost ${label(large)} / ${label(small)} (goal ≤ 1.5: independent of table size; a whole-log scan: ${scans ? "yes" : "none"})`,
    value: cost(big) / cost(base),
    unit: "×",
    baseline: null,
    goal: 1.5,
    cmp: "<=",
  });
  if (scans) ctx.results[ctx.results.length - 1] = { ...(ctx.results.at(-1) as BenchResult), met: false };
  addResult(ctx, {
    id: "R1_buffers",
    name: `shared buffers the pass touches at ${label(large)} (baseline: at ${label(small)})`,
    value: (big.age?.buffers ?? 0) + (big.count?.buffers ?? 0),
    unit: "buffers",
    baseline: (base.age?.buffers ?? 0) + (base.count?.buffers ?? 0),
    goal: null,
  });
}
