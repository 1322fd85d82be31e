/**
 * Failover with replicas (issue 13), on a database, shape server and three pg-sync replicas of
 * its own, 1,000 sources (`bucket = k` on 4 tables) at the default lease TTL.
 *
 * F1: SIGKILL the replica holding a third of the sources; the figure is kill → every source LIVE
 * again on the two survivors (`pgsync_bridges{state="LIVE"}` summed over them reaches 1,000, and
 * every lease is held live by a survivor). Goal: ≤ TTL + 5 s. Baseline: the TTL, the floor a
 * takeover after a crash cannot beat (the dead replica's leases must expire first).
 *
 * F2: a rolling restart of all three replicas as a Kubernetes Deployment does it (one surge
 * replica started and balanced in, then the old one SIGTERMed and drained), while every source's
 * lease is sampled every 50 ms. The figure is the longest time any source had no live owner.
 * Goal: ≤ 2 s. Baseline: the sampling interval.
 */
import pg from "pg";
import { pollUntil, sample, scrape } from "../lib/metrics.js";
import { createBenchTable, type PgSync, startPgSync, startShapeServer } from "../lib/stack.js";
import { addResult, type Context, round } from "./context.js";

/** Sizes of the failover scenario. */
export interface FailoverParams {
  readonly sources: number;
  readonly tables: number;
  readonly replicas: number;
  /** `PGSYNC_LEASE_TTL_MS`. */
  readonly leaseTtlMs: number;
  /** Concurrent RegisterSource calls. */
  readonly registerConcurrency: number;
}

/** Default sizes (the same in quick and full runs: the goals are stated for 1,000 sources, 3 replicas). */
export function failoverParams(): FailoverParams {
  return { sources: 1_000, tables: 4, replicas: 3, leaseTtlMs: 10_000, registerConcurrency: 8 };
}

const LIVE = 'pgsync_bridges{state="LIVE"}';
const SAMPLE_MS = 50;

interface Fleet {
  readonly sql: pg.Pool;
  readonly start: (id: string) => Promise<PgSync>;
  readonly running: Map<string, PgSync>;
}

/** Live lease holders by replica id, and whether every source is LIVE under a live lease of `owners`. */
async function ownership(sql: pg.Pool, owners: readonly string[]) {
  const { rows } = await sql.query<{ owner: string | null; live: boolean | null; state: string }>(
    `SELECT c.owner, l.live, s.state
     FROM pgsync.cursors c JOIN pgsync.sources s USING (tenant, source_ref)
     LEFT JOIN pgsync.leases l USING (tenant, source_ref)`,
  );
  const counts = new Map<string, number>();
  let settled = true;
  for (const r of rows) {
    if (r.live && r.owner) counts.set(r.owner, (counts.get(r.owner) ?? 0) + 1);
    if (!r.live || !r.owner || !owners.includes(r.owner) || r.state !== "LIVE") settled = false;
  }
  return { counts, settled, total: rows.length };
}

/** Waits until every source is LIVE under `owners`, spread within one of even; returns when. */
function waitBalanced(fleet: Fleet, sources: number, what: string): Promise<number> {
  const owners = [...fleet.running.keys()];
  return pollUntil(
    async () => {
      const o = await ownership(fleet.sql, owners);
      const values = owners.map((id) => o.counts.get(id) ?? 0);
      return o.total === sources && o.settled && Math.max(...values) - Math.min(...values) <= 1;
    },
    { timeoutMs: 300_000, intervalMs: SAMPLE_MS, what },
  );
}

/** An interval during which a source had no live owner, in ms since sampling began. */
interface Gap {
  readonly sourceRef: string;
  readonly fromMs: number;
  readonly toMs: number;
}

/**
 * Samples every source's lease until stopped; resolves with the gaps (intervals without a live
 * owner), longest first. `t0` is when sampling began (epoch ms).
 */
function sampleGaps(sql: pg.Pool): { readonly t0: number; stop(): Promise<Gap[]> } {
  const t0 = Date.now();
  const unownedSince = new Map<string, number>();
  const gaps: Gap[] = [];
  let stopped = false;
  const run = (async () => {
    while (!stopped) {
      const { rows } = await sql.query<{ source_ref: string; live: boolean | null }>(
        "SELECT c.source_ref, l.live FROM pgsync.cursors c LEFT JOIN pgsync.leases l USING (tenant, source_ref)",
      );
      const now = Date.now() - t0;
      for (const r of rows) {
        const since = unownedSince.get(r.source_ref);
        if (r.live && since !== undefined) {
          unownedSince.delete(r.source_ref);
          gaps.push({ sourceRef: r.source_ref, fromMs: since, toMs: now });
        } else if (!r.live && since === undefined) unownedSince.set(r.source_ref, now);
      }
      await new Promise((r) => setTimeout(r, SAMPLE_MS));
    }
    const now = Date.now() - t0;
    for (const [sourceRef, since] of unownedSince) gaps.push({ sourceRef, fromMs: since, toMs: now });
  })();
  return {
    t0,
    async stop() {
      stopped = true;
      await run;
      return gaps.sort((a, b) => b.toMs - b.fromMs - (a.toMs - a.fromMs));
    },
  };
}

async function registerSources(fleet: Fleet, p: FailoverParams): Promise<void> {
  const client = [...fleet.running.values()][0]!.client;
  let next = 0;
  await Promise.all(
    Array.from({ length: p.registerConcurrency }, async () => {
      while (next < p.sources) {
        const k = next++;
        await client.registerSource({ options: { table: `f${k % p.tables}`, where: `bucket = ${k}` } });
      }
    }),
  );
}

/** F1: SIGKILL one replica, time until its sources are LIVE on the survivors. */
async function killOne(ctx: Context, fleet: Fleet, p: FailoverParams): Promise<void> {
  const [victimId, victim] = [...fleet.running.entries()].at(-1)!;
  const orphans = (await ownership(fleet.sql, [])).counts.get(victimId) ?? 0;
  fleet.running.delete(victimId);
  const survivors = [...fleet.running.values()];
  const killedAt = Date.now();
  await victim.child.stop("SIGKILL");
  const liveAt = await pollUntil(
    async () => {
      const scrapes = await Promise.all(survivors.map((s) => scrape(s.url)));
      const live = scrapes.reduce((sum, s) => sum + sample(s, LIVE), 0);
      return live >= p.sources && (await ownership(fleet.sql, [...fleet.running.keys()])).settled;
    },
    { timeoutMs: 120_000, intervalMs: SAMPLE_MS, what: "every orphaned source LIVE on the survivors" },
  );
  const takeoverMs = liveAt - killedAt;
  ctx.log(`  SIGKILL ${victimId} (${orphans} sources): all LIVE on the survivors after ${takeoverMs} ms`);
  ctx.breakdown.F1 = { orphans, lease_ttl_ms: p.leaseTtlMs, takeover_ms: takeoverMs };
  addResult(ctx, {
    id: "F1",
    name: `failover: SIGKILL of 1 of ${p.replicas} replicas with ${p.sources} sources → every orphan LIVE again (baseline: lease TTL)`,
    value: takeoverMs / 1000,
    unit: "s",
    baseline: p.leaseTtlMs / 1000,
    goal: p.leaseTtlMs / 1000 + 5,
    cmp: "<=",
  });
}

/** F2: surge a replacement in, then drain an old replica, for every replica in turn. */
async function rollingRestart(ctx: Context, fleet: Fleet, p: FailoverParams): Promise<void> {
  const gaps = sampleGaps(fleet.sql);
  const at = () => Date.now() - gaps.t0;
  const timeline: string[] = [];
  for (const oldId of [...fleet.running.keys()]) {
    const newId = `${oldId.split("-")[0]}-${Date.now().toString(36)}`;
    timeline.push(`${at()} start ${newId}`);
    await fleet.start(newId);
    timeline.push(`${at()} ${newId} listening`);
    await waitBalanced(fleet, p.sources, `${newId} balanced in`);
    timeline.push(`${at()} balanced`);
    const old = fleet.running.get(oldId)!;
    fleet.running.delete(oldId);
    timeline.push(`${at()} SIGTERM ${oldId}`);
    await old.stop();
    timeline.push(`${at()} ${oldId} exited`);
    await waitBalanced(fleet, p.sources, `${oldId} drained`);
    timeline.push(`${at()} balanced`);
  }
  const all = await gaps.stop();
  const longestMs = all[0] ? all[0].toMs - all[0].fromMs : 0;
  const over1s = all.filter((g) => g.toMs - g.fromMs > 1_000).length;
  ctx.log(`  rolling restart (ms since sampling began): ${timeline.join("; ")}`);
  ctx.log(`  ${all.length} ownership gaps, ${over1s} over 1 s; longest: ${JSON.stringify(all.slice(0, 5))}`);
  ctx.breakdown.F2 = { timeline, gaps: all.length, gaps_over_1s: over1s, longest: all.slice(0, 5) };
  addResult(ctx, {
    id: "F2",
    name: `rolling restart of ${p.replicas} replicas (surge one, drain one) with ${p.sources} sources: longest time a source had no live owner (baseline: sampling interval)`,
    value: longestMs / 1000,
    unit: "s",
    baseline: SAMPLE_MS / 1000,
    goal: 2,
    cmp: "<=",
  });
}

/** Runs F1 then F2 on a fleet of its own. */
export async function runFailover(ctx: Context, p: FailoverParams): Promise<void> {
  ctx.parameters.failover = p;
  const url = await ctx.cluster.createDatabase("failover", { synchronousCommit: true });
  const sql = new pg.Pool({ connectionString: url, max: 2 });
  ctx.cleanup.add("failover pool", () => sql.end());
  for (let t = 0; t < p.tables; t++) await createBenchTable(sql, `f${t}`);
  const shape = await startShapeServer(ctx.cleanup, url);
  const running = new Map<string, PgSync>();
  const fleet: Fleet = {
    sql,
    running,
    async start(id) {
      const env = { PGSYNC_REPLICA_ID: id, PGSYNC_LEASE_TTL_MS: String(p.leaseTtlMs) };
      const replica = await startPgSync(ctx.cleanup, url, shape.url, { env });
      running.set(id, replica);
      return replica;
    },
  };
  for (let i = 1; i <= p.replicas; i++) await fleet.start(`r${i}-a`);
  ctx.log(`F1/F2: ${p.replicas} replicas, registering ${p.sources} sources`);
  const registerStart = Date.now();
  await registerSources(fleet, p);
  await waitBalanced(fleet, p.sources, `${p.sources} sources LIVE and balanced`);
  ctx.log(
    `  all LIVE and balanced ${round((Date.now() - registerStart) / 1000)} s after the first registration`,
  );
  await killOne(ctx, fleet, p);
  await fleet.start(`r${p.replicas}-b`);
  await waitBalanced(fleet, p.sources, "the replacement balanced in");
  await rollingRestart(ctx, fleet, p);
  for (const replica of running.values()) await replica.stop();
  await shape.stop();
}
