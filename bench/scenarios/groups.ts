/**
 * P11, consumer groups (issue 15): one source whose log holds a backlog of N single-row inserts,
 * consumed with `max_changes_per_wake` 1 (one wake per change) from the start of the log.
 *
 * - Baseline: one WatchWakes stream reading the same backlog (wakes/s, first wake → Nth wake).
 * - P11: 4 members of one group (ordering key, max_in_flight 16, one HTTP/2 connection each), each
 *   handling its deliveries one after another and acknowledging every one with its own AckWakes
 *   call, sent as soon as the delivery is handled and not awaited before taking the next
 *   (pipelined; max_in_flight bounds what is outstanding): acknowledged wakes/s, first delivery →
 *   Nth acknowledgement.
 * - P11_batched: the same with a member's waiting deliveries acknowledged together (≤ 16 per call).
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

/** Runs P11 and adds P11, P11_batched and P11_cycle_p99. */
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
  const members = ["--members", String(p.members)];

  ctx.log("P11 baseline: one WatchWakes stream reads the backlog");
  const watch = await consumeRun(ctx, meter, pgsync, ref, p.rows, ["--mode", "watch"]);
  ctx.log(`P11: ${p.members} members, ordering key, every delivery acknowledged by its own call, pipelined`);
  const single = await consumeRun(ctx, meter, pgsync, ref, p.rows, [
    ...members,
    "--group",
    "p11-single",
    "--pipeline",
  ]);
  ctx.log(`P11_batched: ${p.members} members, waiting deliveries acknowledged together (≤ 16 per call)`);
  const batched = await consumeRun(ctx, meter, pgsync, ref, p.rows, [
    ...members,
    "--group",
    "p11-batched",
    "--ack-batch",
    "16",
  ]);
  ctx.log(`P11_cycle: ${p.members} members, max_in_flight 1`);
  const cycle = await consumeRun(ctx, meter, pgsync, ref, p.latencyRows, [
    ...members,
    "--group",
    "p11-cycle",
    "--max-in-flight",
    "1",
  ]);
  ctx.breakdown.P11 = {
    watch: { wakes_per_s: round(watch.perSecond), cpu_s: watch.cpu },
    single: { acks_per_s: round(single.perSecond), ...single.stats, cpu_s: single.cpu },
    batched: { acks_per_s: round(batched.perSecond), ...batched.stats, cpu_s: batched.cpu },
    cycle: { ...cycle.stats, cpu_s: cycle.cpu },
  };
  for (const run of [single, batched, cycle]) {
    if (run.stats.duplicates > 0) throw new Error(`P11: ${run.stats.duplicates} wakes acknowledged twice`);
  }
  addResult(ctx, {
    id: "P11",
    name: `consumer group: acknowledged wakes/s, ${p.members} members acking every delivery with its own pipelined call (baseline: one WatchWakes stream, same backlog)`,
    value: single.perSecond,
    unit: "acks/s",
    baseline: watch.perSecond,
    goal: GOAL_ACKS_PER_S,
  });
  addResult(ctx, {
    id: "P11_batched",
    name: `consumer group: acknowledged wakes/s, ${p.members} members, a member's waiting deliveries acked in one call (baseline: WatchWakes)`,
    value: batched.perSecond,
    unit: "acks/s",
    baseline: watch.perSecond,
    goal: GOAL_ACKS_PER_S,
  });
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
