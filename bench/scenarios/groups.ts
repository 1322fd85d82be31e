/**
 * P11, consumer groups (issue 15): one source whose log holds a backlog of N single-row inserts,
 * consumed with `max_changes_per_wake` 1 (one wake per change) from the start of the log.
 *
 * - Baseline: one WatchWakes stream reading the same backlog (wakes/s, first wake → Nth wake).
 * - Four throughput runs (THROUGHPUT_RUNS), each 4 members of a group of its own (ordering key, one
 *   HTTP/2 connection each) handling their deliveries one after another and acknowledging every
 *   one: acknowledged wakes/s, first delivery → Nth acknowledgement. P11 goes through the
 *   TypeScript client's `consume()` with each delivery `ack()`ed as handled and not awaited
 *   (the client batches the acks of one timer turn into one call), max_in_flight 200;
 *   P11_inflight16 the same with max_in_flight 16; P11_per_call sends one AckWakes call per
 *   delivery, not awaited; P11_batched acknowledges a member's waiting deliveries in one awaited
 *   call.
 * - P11_cycle_p99: 4 members with max_in_flight 1, so every next delivery waits for the previous
 *   ack: p99 of delivery → ack answered → next delivery, per member.
 */
import pg from "pg";
import { SourceState } from "../../gen/pgsync/v1/source_pb.js";
import { TOKENS } from "../../scripts/lib/processes.js";
import { cpuSeconds, treeCpuSeconds } from "../lib/cpu.js";
import { pollUntil, type quantiles, sample, scrape } from "../lib/metrics.js";
import { createBenchTable, type PgSync, startPgSync, startShapeServer } from "../lib/stack.js";
import { addResult, type Context, rate, round, startClient, startLoad } from "./context.js";

/** Sizes of P11. */
export interface GroupsParams {
  /** Backlog rows (= wakes) consumed by the watcher and by each throughput group. */
  readonly rows: number;
  /** Deliveries measured for the cycle time. */
  readonly latencyRows: number;
  /** Members per group. */
  readonly members: number;
}

/** Default sizes. */
export function groupsParams(quick: boolean): GroupsParams {
  return quick
    ? { rows: 5_000, latencyRows: 1_000, members: 4 }
    : { rows: 10_000, latencyRows: 2_000, members: 4 };
}

const GOAL_ACKS_PER_S = 5_000;

interface Stats {
  first_frame_at: number;
  acknowledged: number;
  duplicates: number;
  per_member: number[];
  ack_rtt_ms: ReturnType<typeof quantiles>;
  cycle_ms: ReturnType<typeof quantiles>;
}

/** Runs bench/clients/group-member.ts to completion; returns its stats and the rate per second. */
async function consumeRun(
  ctx: Context,
  meter: () => () => Record<string, number>,
  pgsync: PgSync,
  ref: string,
  expect: number,
  args: string[],
): Promise<{ stats: Stats; perSecond: number; cpu: Record<string, number> }> {
  const cpu = meter();
  const child = startClient(ctx, "group-member", [
    "--url",
    pgsync.url,
    "--token",
    TOKENS.a,
    "--ref",
    ref,
    "--expect",
    String(expect),
    ...args,
  ]);
  const done = await child.line(/^done (\d+) (.*)$/, 600_000);
  const stats = JSON.parse(done[2]!) as Stats;
  return { stats, perSecond: rate(expect, stats.first_frame_at, Number(done[1])), cpu: cpu() };
}

function cpuMeterFor(ctx: Context, shapePid: number, pgsyncPid: number): () => () => Record<string, number> {
  return () => {
    const read = () => ({
      postgres: treeCpuSeconds(ctx.cluster.postmasterPid),
      shape_server: cpuSeconds(shapePid),
      pg_sync: cpuSeconds(pgsyncPid),
    });
    const start = read();
    return () => {
      const end = read();
      return {
        postgres: round(end.postgres - start.postgres),
        shape_server: round(end.shape_server - start.shape_server),
        pg_sync: round(end.pg_sync - start.pg_sync),
      };
    };
  };
}

/** Creates the backlog: `rows` inserts, logged by pg-sync before any consumer starts. */
async function backlog(
  ctx: Context,
  url: string,
  sql: pg.Pool,
  pgsync: PgSync,
  rows: number,
): Promise<string> {
  await createBenchTable(sql, "p11");
  const { sourceRef } = await pgsync.client.registerSource({ options: { table: "p11" } });
  await pollUntil(
    async () => (await pgsync.client.getCursor({ sourceRef })).cursor?.state === SourceState.LIVE,
    { timeoutMs: 30_000, what: "p11 source LIVE" },
  );
  const before = sample(await scrape(pgsync.url), "pgsync_changes_logged_total");
  await startLoad(ctx, url, "p11", { rows, batch: 500, connections: 2 }).result;
  await pollUntil(
    async () => sample(await scrape(pgsync.url), "pgsync_changes_logged_total") - before >= rows,
    { timeoutMs: 300_000, intervalMs: 50, what: `${rows} changes logged` },
  );
  return sourceRef;
}

/**
 * The throughput runs, each a group of its own reading the whole backlog. Every member handles
 * its deliveries one after another and acknowledges every one; what differs is how.
 */
const THROUGHPUT_RUNS: readonly { id: string; group: string; what: string; args: readonly string[] }[] = [
  {
    id: "P11",
    group: "p11",
    what: "TS client consume(), every delivery ack()ed as handled, not awaited, max_in_flight 200",
    args: ["--mode", "client", "--max-in-flight", "200"],
  },
  {
    id: "P11_inflight16",
    group: "p11-inflight16",
    what: "as P11 with max_in_flight 16",
    args: ["--mode", "client", "--max-in-flight", "16"],
  },
  {
    id: "P11_per_call",
    group: "p11-per-call",
    what: "raw client, one AckWakes call per delivery sent as handled, not awaited, max_in_flight 16",
    args: ["--pipeline", "--max-in-flight", "16"],
  },
  {
    id: "P11_batched",
    group: "p11-batched",
    what: "raw client, a member's waiting deliveries acknowledged in one awaited call (≤ 16), max_in_flight 16",
    args: ["--ack-batch", "16", "--max-in-flight", "16"],
  },
];

/** Runs P11 and adds P11, P11_inflight16, P11_per_call, P11_batched and P11_cycle_p99. */
export async function runGroups(ctx: Context, p: GroupsParams): Promise<void> {
  ctx.parameters.groups = p;
  const url = await ctx.cluster.createDatabase("groups", { synchronousCommit: true });
  const sql = new pg.Pool({ connectionString: url, max: 2 });
  ctx.cleanup.add("groups pool", () => sql.end());
  const shape = await startShapeServer(ctx.cleanup, url);
  const pgsync = await startPgSync(ctx.cleanup, url, shape.url, {
    ...(ctx.profileDir ? { cpuProfDir: ctx.profileDir } : {}),
  });
  const meter = cpuMeterFor(ctx, shape.pid, pgsync.pid);
  ctx.log(`P11: ${p.rows}-change backlog on one source`);
  const ref = await backlog(ctx, url, sql, pgsync, p.rows);
  const results: Record<string, unknown> = {};
  const members = ["--members", String(p.members)];

  ctx.log("P11 baseline: one WatchWakes stream reads the backlog");
  const watch = await consumeRun(ctx, meter, pgsync, ref, p.rows, ["--mode", "watch"]);
  ctx.breakdown.P11 = results;
  results.watch = { wakes_per_s: round(watch.perSecond), cpu_s: watch.cpu };
  // BENCH_GROUPS_RUNS=P11,P11_batched runs only those (profiling one run); the cycle run is skipped then.
  const only = process.env.BENCH_GROUPS_RUNS?.split(",");
  for (const run of THROUGHPUT_RUNS.filter((r) => !only || only.includes(r.id))) {
    ctx.log(`${run.id}: ${p.members} members, ${run.what}`);
    const r = await consumeRun(ctx, meter, pgsync, ref, p.rows, [
      ...members,
      "--group",
      run.group,
      ...run.args,
    ]);
    if (r.stats.duplicates > 0) throw new Error(`${run.id}: ${r.stats.duplicates} wakes acknowledged twice`);
    results[run.id] = { acks_per_s: round(r.perSecond), ...r.stats, cpu_s: r.cpu };
    addResult(ctx, {
      id: run.id,
      name: `consumer group: acknowledged wakes/s, ${p.members} members, ${run.what} (baseline: one WatchWakes stream, same backlog)`,
      value: r.perSecond,
      unit: "acks/s",
      baseline: watch.perSecond,
      goal: GOAL_ACKS_PER_S,
    });
  }
  if (only && !only.includes("P11_cycle_p99")) {
    await pgsync.stop();
    await shape.stop();
    return;
  }
  ctx.log(`P11_cycle: ${p.members} members, max_in_flight 1`);
  const cycle = await consumeRun(ctx, meter, pgsync, ref, p.latencyRows, [
    ...members,
    "--group",
    "p11-cycle",
    "--max-in-flight",
    "1",
  ]);
  if (cycle.stats.duplicates > 0)
    throw new Error(`P11_cycle: ${cycle.stats.duplicates} wakes acknowledged twice`);
  results.cycle = { ...cycle.stats, cpu_s: cycle.cpu };
  addResult(ctx, {
    id: "P11_cycle_p99",
    name: "consumer group: delivery → ack → next delivery p99, max_in_flight 1 (baseline: AckWakes round trip p99)",
    value: cycle.stats.cycle_ms.p99,
    unit: "ms",
    baseline: cycle.stats.ack_rtt_ms.p99,
    goal: null,
  });
  await pgsync.stop();
  await shape.stop();
}
