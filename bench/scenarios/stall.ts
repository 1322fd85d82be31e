/**
 * The ingest-stall scenario (issue 17): per round, a fresh database (so `pgsync.changes` is new
 * and has no planner statistics), one source, and one 30,000-row transaction. Every Electric
 * response pg-sync receives is timestamped on arrival by a fetch preload (bench/lib/batch-timing.mjs);
 * every commit is timestamped by LISTEN on the log's NOTIFY channel. Each batch's delivery → commit
 * time is the first commit whose log head covers the batch, minus its arrival. Goal: no batch
 * committed more than 1 s after delivery. Baseline: a raw ShapeStream on the same shape, insert
 * commit → all rows received.
 */
import { mkdtempSync, readFileSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import pg from "pg";
import { SourceState } from "../../gen/pgsync/v1/source_pb.js";
import { pollUntil, quantiles, sample, scrape } from "../lib/metrics.js";
import { createBenchTable, startPgSync, startShapeServer } from "../lib/stack.js";
import { addResult, type Context, round, startClient, startLoad } from "./context.js";

const PRELOAD = resolve(import.meta.dirname, "../lib/batch-timing.mjs");
/** The log's NOTIFY channel (src/storage/constants.ts CHANGES_CHANNEL). */
const CHANGES_CHANNEL = "pgsync_changes";
const GOAL_MAX_DELAY_MS = 1_000;
/** pg-sync's histogram of Electric batch hand-over → committed (src/metrics.ts). */
const BATCH_COMMIT = "pgsync_batch_commit_seconds";

/** Sizes of the stall scenario. */
export interface StallParams {
  /** Rows of the one transaction per round. */
  readonly rows: number;
  /** Rounds, each on a fresh database with fresh processes. */
  readonly rounds: number;
}

/** Default sizes. */
export function stallParams(quick: boolean): StallParams {
  return { rows: 30_000, rounds: quick ? 1 : 3 };
}

interface Arrival {
  at: number;
  changes: number;
}

/**
 * One batch: changes, arrival → committed (the commit that covers its last change, ms), and
 * arrival → its first commit part (ms; equal for a batch committed in one statement).
 */
interface BatchTiming {
  changes: number;
  delayMs: number;
  firstPartMs: number;
  parts: number;
}

/**
 * Bind and execute times of the batch-commit statement (its text starts with `WITH cur AS (`) in
 * a piece of Postgres' log (log_min_duration_statement is set per database, so only slow ones).
 */
export function commitDurations(log: string): { bindMs: number[]; executeMs: number[] } {
  const bindMs: number[] = [];
  const executeMs: number[] = [];
  const lines = log.split("\n");
  lines.forEach((line, i) => {
    const m = /duration: ([\d.]+) ms\s+(bind|execute) <unnamed>: $/.exec(line);
    if (!m || !lines[i + 1]?.trimStart().startsWith("WITH cur AS (")) return;
    (m[2] === "bind" ? bindMs : executeMs).push(Number(m[1]));
  });
  return { bindMs, executeMs };
}

/** Pairs response arrivals (in order) with the first commit whose head covers them. */
export function pairBatches(arrivals: readonly Arrival[], commits: readonly { at: number; head: number }[]) {
  const out: BatchTiming[] = [];
  let covered = 0;
  let c = 0;
  for (const a of arrivals) {
    if (a.changes === 0) continue;
    // The batch's first part is the first commit past what earlier batches covered.
    while (c < commits.length && commits[c]!.head <= covered) c++;
    const first = c;
    covered += a.changes;
    while (c < commits.length && commits[c]!.head < covered) c++;
    const commit = commits[c];
    if (!commit) break;
    const firstAt = commits[first]?.at ?? commit.at;
    out.push({
      changes: a.changes,
      delayMs: commit.at - a.at,
      firstPartMs: firstAt - a.at,
      parts: c - first + 1,
    });
  }
  return out;
}

async function round1(ctx: Context, p: StallParams, index: number) {
  const url = await ctx.cluster.createDatabase(`stall_${index}`, { synchronousCommit: true });
  const sql = new pg.Client({ connectionString: url });
  await sql.connect();
  // Statements over 100 ms go to the cluster's log (postgres.log), with their duration.
  const pgLog = join(ctx.cluster.dir, "postgres.log");
  const logFrom = statSync(pgLog).size;
  await sql.query(`ALTER DATABASE stall_${index} SET log_min_duration_statement = 100`);
  const closeSql = ctx.cleanup.add("stall client", () => sql.end());
  const dir = mkdtempSync(join(tmpdir(), "pgsync-stall-"));
  const timingFile = join(dir, "arrivals.jsonl");
  const removeDir = ctx.cleanup.add("stall dir", () => rmSync(dir, { recursive: true, force: true }));
  const shape = await startShapeServer(ctx.cleanup, url);
  const pgsync = await startPgSync(ctx.cleanup, url, shape.url, {
    env: {
      NODE_OPTIONS: `${process.env.NODE_OPTIONS ?? ""} --import ${PRELOAD}`.trim(),
      BENCH_BATCH_TIMING_FILE: timingFile,
    },
    ...(ctx.profileDir ? { cpuProfDir: ctx.profileDir } : {}),
  });
  await createBenchTable(sql, "stall");
  const { sourceRef } = await pgsync.client.registerSource({ options: { table: "stall" } });
  await pollUntil(
    async () => (await pgsync.client.getCursor({ sourceRef })).cursor?.state === SourceState.LIVE,
    { timeoutMs: 30_000, what: "stall source LIVE" },
  );
  const commits: { at: number; head: number }[] = [];
  sql.on("notification", (n) => {
    const at = performance.timeOrigin + performance.now();
    const payload = JSON.parse(n.payload ?? "{}") as { r?: string; h?: number | string };
    if (payload.r === sourceRef) commits.push({ at, head: Number(payload.h) });
  });
  await sql.query(`LISTEN ${CHANGES_CHANNEL}`);
  const raw = startClient(ctx, "shape-consumer", [
    "--url",
    shape.url,
    "--table",
    "stall",
    "--expect",
    String(p.rows),
  ]);
  await raw.line(/^ready$/);
  ctx.log(`stall round ${index}: one ${p.rows}-row transaction into a fresh database`);
  const m0 = await scrape(pgsync.url);
  const load = startLoad(ctx, url, "stall", { rows: p.rows, batch: p.rows, connections: 1 });
  const loggedAt = await pollUntil(async () => (commits.at(-1)?.head ?? 0) >= p.rows, {
    timeoutMs: 300_000,
    intervalMs: 10,
    what: `${p.rows} changes logged`,
  });
  const rawAt = Number((await raw.line(/^done (\d+)/, 300_000))[1]);
  const l = await load.result;
  const arrivals = readFileSync(timingFile, "utf8")
    .trim()
    .split("\n")
    .map((line) => JSON.parse(line) as Arrival);
  const batches = pairBatches(arrivals, commits);
  // The bridge's own histogram runs from the client's hand-over to the last part committed; the
  // rest of delivery → committed is the Electric client reading and parsing the response.
  const m1 = await scrape(pgsync.url);
  const bridgeMs = (sample(m1, `${BATCH_COMMIT}_sum`) - sample(m0, `${BATCH_COMMIT}_sum`)) * 1000;
  const bridgeBatches = sample(m1, `${BATCH_COMMIT}_count`) - sample(m0, `${BATCH_COMMIT}_count`);
  const statement = commitDurations(readFileSync(pgLog).subarray(logFrom).toString("utf8"));
  await pgsync.stop();
  await shape.stop();
  await closeSql();
  await removeDir();
  return {
    batches,
    pgsyncMs: loggedAt - l.done,
    rawMs: rawAt - l.done,
    insertMs: l.done - l.start,
    statement,
    bridgeMs,
    bridgeBatches,
  };
}

/** Runs the rounds and adds STALL_max and STALL_total. */
export async function runStall(ctx: Context, p: StallParams): Promise<void> {
  ctx.parameters.stall = p;
  const rounds = [];
  for (let i = 1; i <= p.rounds; i++) rounds.push(await round1(ctx, p, i));
  const delays = rounds.flatMap((r) => r.batches.map((b) => b.delayMs));
  const worst = Math.max(...delays);
  const pgsyncWorst = Math.max(...rounds.map((r) => r.pgsyncMs));
  const rawWorst = Math.max(...rounds.map((r) => r.rawMs));
  ctx.breakdown.stall = {
    rounds: rounds.map((r) => ({
      insert_ms: r.insertMs,
      pgsync_after_commit_ms: r.pgsyncMs,
      raw_after_commit_ms: r.rawMs,
      // [changes, delivery → committed ms, delivery → first part committed ms, parts]
      batches: r.batches.map((b) => [b.changes, round(b.delayMs), round(b.firstPartMs), b.parts]),
      // Hand-over by the Electric client → last part committed, summed over the round's batches.
      bridge_ms: round(r.bridgeMs),
      bridge_batches: r.bridgeBatches,
      // With one batch in the round: delivery → hand-over (the Electric client's read and parse).
      ...(r.batches.length === 1 && r.bridgeBatches === 1
        ? { client_parse_ms: round(r.batches[0]!.delayMs - r.bridgeMs) }
        : {}),
      commit_statement_over_100ms: {
        bind_ms: r.statement.bindMs.map(round),
        execute_ms: r.statement.executeMs.map(round),
      },
    })),
    delay_quantiles_ms: quantiles(delays),
    batches_over_1s: delays.filter((d) => d > GOAL_MAX_DELAY_MS).length,
  };
  addResult(ctx, {
    id: "STALL_max",
    name: `stall: worst Electric batch delivery → commit over ${p.rounds} × one ${p.rows}-row transaction on a fresh database (baseline: raw ShapeStream, insert commit → all received, worst round)`,
    value: worst,
    unit: "ms",
    baseline: rawWorst,
    goal: GOAL_MAX_DELAY_MS,
    cmp: "<=",
  });
  addResult(ctx, {
    id: "STALL_first",
    name: "stall: worst Electric batch delivery → its first commit part (COMMIT_PART_MAX_CHANGES) committed and announced (baseline: delivery → whole batch committed, worst)",
    value: Math.max(...rounds.flatMap((r) => r.batches.map((b) => b.firstPartMs))),
    unit: "ms",
    baseline: worst,
    goal: null,
  });
  addResult(ctx, {
    id: "STALL_total",
    name: "stall: insert commit → all changes logged by pg-sync, worst round (baseline: raw ShapeStream, insert commit → all received)",
    value: pgsyncWorst,
    unit: "ms",
    baseline: rawWorst,
    goal: null,
  });
}
