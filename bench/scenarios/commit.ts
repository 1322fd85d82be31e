/**
 * The batch commit statement alone, on a large batch (the stall scenario's 30,000-change
 * transaction): what pg-sync spends building it and what one round trip to Postgres costs, today
 * against the statement and schema before issue 17 (one JSON document of records, a per-row
 * foreign key to sources, a created_at index), in the same run, interleaved round by round.
 */
import pg from "pg";
import type { BatchCommit, NewChange } from "../../src/domain/change-log.js";
import { splitBatch } from "../../src/domain/change-log.js";
import { commitStatement } from "../../src/storage/commit-statement.js";
import { loadMigrations, migrate } from "../../src/storage/migrate.js";
import { baselineCommitStatement } from "../lib/commit-baseline.js";
import { quantiles } from "../lib/metrics.js";
import { addResult, type Context, recordDistribution, round } from "./context.js";

/** Sizes of the commit scenario. */
export interface CommitParams {
  /** Changes in the batch. */
  readonly changes: number;
  /** Rounds; each commits the batch once per variant. */
  readonly rounds: number;
  /** Changes per part when the batch is committed in parts. */
  readonly partSize: number;
}

/** Default sizes. */
export function commitParams(quick: boolean): CommitParams {
  return { changes: 30_000, rounds: quick ? 2 : 5, partSize: 5_000 };
}

type Build = (batch: BatchCommit) => pg.QueryConfig;

/** A batch shaped like the stall scenario's rows (id, bucket, payload, ts), offsets after `lsn`. */
function makeBatch(sourceRef: string, n: number, lsn: number): BatchCommit {
  const changes: NewChange[] = Array.from({ length: n }, (_, i) => ({
    key: `"public"."stall"/"${lsn + i}"`,
    operation: "insert",
    value: { id: String(lsn + i), bucket: String(i % 10), payload: `payload-${lsn + i}`, ts: 1.7e12 + i },
    oldValue: undefined,
    offset: `${lsn}_${i * 2}`,
    txids: [String(lsn)],
  }));
  return {
    tenant: "t",
    sourceRef,
    generation: 1n,
    shapeHandle: "h",
    shapeOffset: `${lsn}_${(n - 1) * 2}`,
    gap: undefined,
    changes,
    upToDate: true,
  };
}

async function addSource(pool: pg.Pool, ref: string): Promise<void> {
  await pool.query(
    "INSERT INTO pgsync.sources (tenant, source_ref, options, shape_url) VALUES ('t', $1, '{}', 'http://x')",
    [ref],
  );
  await pool.query(
    "INSERT INTO pgsync.cursors (tenant, source_ref, generation, shape_handle, shape_offset) VALUES ('t', $1, 1, 'h', '0_0')",
    [ref],
  );
}

/** Commits `parts` in order; ms to build the statements, to the first part committed, to the last. */
async function commitTimed(pool: pg.Pool, build: Build, parts: BatchCommit[]) {
  const t0 = performance.now();
  let buildMs = 0;
  let firstMs = 0;
  for (const [i, part] of parts.entries()) {
    const b0 = performance.now();
    const statement = build(part);
    buildMs += performance.now() - b0;
    const { rows } = await pool.query<{ appended: string }>(statement);
    if (Number(rows[0]?.appended) !== part.changes.length) throw new Error("commit appended too little");
    if (i === 0) firstMs = performance.now() - t0;
  }
  return { buildMs, firstMs, totalMs: performance.now() - t0 };
}

const VARIANTS = ["baseline", "old_statement_new_schema", "today", "today_in_parts"] as const;

export async function runCommit(ctx: Context, p: CommitParams): Promise<void> {
  ctx.parameters.commit = p;
  const oldUrl = await ctx.cluster.createDatabase("commit_old");
  const newUrl = await ctx.cluster.createDatabase("commit_new");
  const oldPool = new pg.Pool({ connectionString: oldUrl, max: 1 });
  const newPool = new pg.Pool({ connectionString: newUrl, max: 1 });
  ctx.cleanup.add("commit pools", async () => {
    await Promise.all([oldPool.end(), newPool.end()]);
  });
  await migrate(
    oldPool,
    (await loadMigrations()).filter((m) => m.version <= 2),
  );
  await migrate(newPool);
  const samples: Record<string, { buildMs: number; firstMs: number; totalMs: number }[]> = {};
  for (const v of VARIANTS) samples[v] = [];
  ctx.log(`commit: ${p.changes} changes per batch, ${p.rounds} rounds of ${VARIANTS.length} variants`);
  for (let r = 0; r < p.rounds; r++) {
    for (const v of VARIANTS) {
      const ref = `${v}_${r}`;
      const pool = v === "baseline" ? oldPool : newPool;
      await addSource(pool, ref);
      const batch = makeBatch(ref, p.changes, 1000 + r);
      const build =
        v === "baseline" || v === "old_statement_new_schema" ? baselineCommitStatement : commitStatement;
      const parts = v === "today_in_parts" ? splitBatch(batch, p.partSize) : [batch];
      samples[v]?.push(await commitTimed(pool, build, parts));
    }
  }
  const med = (v: string, k: "buildMs" | "firstMs" | "totalMs") =>
    quantiles((samples[v] ?? []).map((s) => s[k])).p50;
  ctx.breakdown.commit = Object.fromEntries(
    VARIANTS.map((v) => [
      v,
      {
        build_ms_p50: round(med(v, "buildMs")),
        first_ms_p50: round(med(v, "firstMs")),
        total_ms_p50: round(med(v, "totalMs")),
        samples: samples[v],
      },
    ]),
  );
  recordDistribution(
    ctx,
    `commit of a ${p.changes}-change batch (build + round trip)`,
    "ms",
    Object.fromEntries(VARIANTS.map((v) => [v, (samples[v] ?? []).map((s) => s.totalMs)])),
  );
  addResult(ctx, {
    id: "C1",
    name: `commit of one ${p.changes}-change batch: build + round trip, p50 (baseline: the statement and schema before issue 17)`,
    value: med("today", "totalMs"),
    unit: "ms",
    baseline: med("baseline", "totalMs"),
    goal: null,
  });
  addResult(ctx, {
    id: "C2",
    name: `the same batch in parts of ${p.partSize}: first part committed, p50 (baseline: whole batch, today's statement)`,
    value: med("today_in_parts", "firstMs"),
    unit: "ms",
    baseline: med("today", "totalMs"),
    goal: 1000,
    cmp: "<=",
  });
}
