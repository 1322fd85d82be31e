import { createClient } from "@connectrpc/connect";
import pg from "pg";
import { expect } from "vitest";
import { Health, HealthCheckResponse_ServingStatus } from "../../gen/grpc/health/v1/health_pb.js";
import {
  type Child,
  pgSyncEnv,
  startPgSyncProcess,
  startShapeServerProcess,
  TOKENS,
} from "../../scripts/lib/processes.js";
import { createTestDatabase, type TestDatabase } from "./db.js";
import { connectClient, connectTransport } from "./stack-fixture.js";
import { waitFor } from "./wait.js";

/** The lease TTL the replica tests run with (short, so failover tests stay fast). */
export const TEST_LEASE_TTL_MS = 2_000;
/** What the issue allows for a takeover: the TTL plus 5 s. */
export const TAKEOVER_BOUND_MS = TEST_LEASE_TTL_MS + 5_000;

/** One pg-sync replica process. */
export interface Replica {
  readonly id: string;
  readonly child: Child;
  readonly url: string;
}

/** A source's lease as the state database sees it. */
export interface LeaseRow {
  readonly sourceRef: string;
  readonly owner: string | null;
  readonly live: boolean;
  readonly generation: bigint;
  readonly state: string;
}

/** A state database, the shape server, N tables with one source each, and replica processes. */
export interface ReplicaCluster {
  readonly db: TestDatabase;
  readonly sql: pg.Pool;
  readonly shapeUrl: string;
  /** Source ref per table index. */
  readonly refs: string[];
  readonly replicas: Map<string, Replica>;
  start(id: string, env?: Record<string, string>): Promise<Replica>;
  leases(): Promise<LeaseRow[]>;
  /** Lease counts of live owners. */
  counts(): Promise<Map<string, number>>;
  close(): Promise<void>;
}

/** Starts the cluster's database, tables and shape server (no replica yet). */
export async function createReplicaCluster(prefix: string, tables: number): Promise<ReplicaCluster> {
  const db = await createTestDatabase(prefix);
  const sql = new pg.Pool({ connectionString: db.url, max: 6 });
  // close() drops the database WITH (FORCE): a client still ending then is terminated, harmlessly.
  sql.on("error", () => {});
  for (let t = 0; t < tables; t++) {
    await sql.query(`CREATE TABLE t${t} (id bigserial PRIMARY KEY, n int NOT NULL UNIQUE)`);
  }
  const shape = await startShapeServerProcess(db.url, { SHAPE_LONG_POLL_TIMEOUT_MS: "1000" });
  const replicas = new Map<string, Replica>();
  const cluster: ReplicaCluster = {
    db,
    sql,
    shapeUrl: shape.url,
    refs: [],
    replicas,
    async start(id, env = {}) {
      const { child, url } = await startPgSyncProcess(
        pgSyncEnv(db.url, shape.url, 0, {
          PGSYNC_REPLICA_ID: id,
          PGSYNC_LEASE_TTL_MS: String(TEST_LEASE_TTL_MS),
          ...env,
        }),
      );
      const replica = { id, child, url };
      replicas.set(id, replica);
      return replica;
    },
    async leases() {
      const { rows } = await sql.query<{
        source_ref: string;
        owner: string | null;
        live: boolean | null;
        generation: string;
        state: string;
      }>(
        `SELECT c.source_ref, c.owner, l.live, c.generation, s.state
         FROM pgsync.cursors c JOIN pgsync.sources s USING (tenant, source_ref)
         LEFT JOIN pgsync.leases l USING (tenant, source_ref) ORDER BY c.source_ref`,
      );
      return rows.map((r) => ({
        sourceRef: r.source_ref,
        owner: r.owner,
        live: r.live === true,
        generation: BigInt(r.generation),
        state: r.state,
      }));
    },
    async counts() {
      const counts = new Map<string, number>();
      for (const l of await cluster.leases()) {
        if (l.live && l.owner) counts.set(l.owner, (counts.get(l.owner) ?? 0) + 1);
      }
      return counts;
    },
    async close() {
      for (const r of replicas.values()) {
        r.child.process.kill("SIGCONT");
        await r.child.stop("SIGKILL");
      }
      await shape.child.stop("SIGTERM");
      await sql.end();
      await db.drop();
    },
  };
  return cluster;
}

/** Registers one source per table through `replica`. */
export async function registerAll(cluster: ReplicaCluster, replica: Replica, tables: number): Promise<void> {
  const client = connectClient(replica.url, TOKENS.a);
  for (let t = 0; t < tables; t++) {
    const { sourceRef } = await client.registerSource({ options: { table: `t${t}` } });
    cluster.refs[t] = sourceRef;
  }
}

/** Waits until every source is LIVE under a live lease of one of `owners`, and returns the counts. */
export async function waitAllOwned(
  cluster: ReplicaCluster,
  owners: readonly string[],
  what: string,
  timeoutMs = 30_000,
): Promise<Map<string, number>> {
  return waitFor(
    async () => {
      const leases = await cluster.leases();
      const ok =
        leases.length === cluster.refs.length &&
        leases.every((l) => l.live && l.owner !== null && owners.includes(l.owner) && l.state === "LIVE");
      return ok ? cluster.counts() : undefined;
    },
    { what, timeoutMs, intervalMs: 50 },
  );
}

/** Expects the counts within one of even over `owners`. */
export function expectBalanced(counts: ReadonlyMap<string, number>, owners: readonly string[]): void {
  const values = owners.map((o) => counts.get(o) ?? 0);
  expect(Math.max(...values) - Math.min(...values), JSON.stringify([...counts])).toBeLessThanOrEqual(1);
}

/** Paced writes: each tick one transaction inserts the next row into a few tables in turn. */
export interface Writer {
  /** Rows written per table (n runs 1..written[t]). */
  readonly written: number[];
  stop(): Promise<void>;
}

/** Starts a paced writer over `tables` tables; bounded by `maxTicks` ticks of `everyMs`. */
export function startWriter(
  sql: pg.Pool,
  tables: number,
  everyMs = 50,
  perTick = 5,
  maxTicks = 4_000,
): Writer {
  const written = Array.from({ length: tables }, () => 0);
  let stopped = false;
  let next = 0;
  const run = (async () => {
    for (let tick = 0; tick < maxTicks && !stopped; tick++) {
      const statements: string[] = [];
      for (let i = 0; i < perTick; i++) {
        const t = next++ % tables;
        written[t] = (written[t] ?? 0) + 1;
        statements.push(`INSERT INTO t${t} (n) VALUES (${written[t]})`);
      }
      await sql.query(`BEGIN; ${statements.join("; ")}; COMMIT`);
      await new Promise((r) => setTimeout(r, everyMs));
    }
  })();
  // Observed here so a writer outliving a failed test (its pool ended) is no unhandled rejection;
  // stop() still awaits `run` and throws its error.
  run.catch(() => {});
  return {
    written,
    async stop() {
      stopped = true;
      await run;
    },
  };
}

/** Waits until every source's log holds exactly its table's rows 1..n, once each, in commit order. */
export async function expectExactLogs(cluster: ReplicaCluster, written: readonly number[]): Promise<void> {
  await waitFor(
    async () => {
      const { rows } = await cluster.sql.query<{ source_ref: string; c: string }>(
        "SELECT source_ref, count(*) AS c FROM pgsync.changes GROUP BY source_ref",
      );
      const byRef = new Map(rows.map((r) => [r.source_ref, Number(r.c)]));
      return cluster.refs.every((ref, t) => (byRef.get(ref) ?? 0) >= (written[t] ?? 0));
    },
    { what: "every row logged", timeoutMs: 40_000, intervalMs: 100 },
  );
  for (const [t, ref] of cluster.refs.entries()) {
    const { rows } = await cluster.sql.query<{ seq: string; kind: string; n: number | null }>(
      "SELECT seq, kind, (value->>'n')::int AS n FROM pgsync.changes WHERE source_ref = $1 ORDER BY seq",
      [ref],
    );
    const expected = Array.from({ length: written[t] ?? 0 }, (_, i) => i + 1);
    expect(
      rows.filter((r) => r.kind !== "change"),
      `t${t}: no gap`,
    ).toEqual([]);
    expect(
      rows.map((r) => r.n),
      `t${t}: every row once, in order`,
    ).toEqual(expected);
    expect(
      rows.map((r) => Number(r.seq)),
      `t${t}: gap-free seqs`,
    ).toEqual(expected);
  }
}

/**
 * Samples lease ownership every 50 ms and records, per source, the longest time it had no live
 * owner. Bounded by `maxMs`.
 */
export function watchOwnership(cluster: ReplicaCluster, maxMs = 120_000) {
  const unownedSince = new Map<string, number>();
  let longest = 0;
  let stopped = false;
  const started = Date.now();
  const run = (async () => {
    while (!stopped && Date.now() - started < maxMs) {
      const now = Date.now();
      for (const l of await cluster.leases()) {
        if (l.live) {
          unownedSince.delete(l.sourceRef);
        } else {
          const since = unownedSince.get(l.sourceRef) ?? now;
          unownedSince.set(l.sourceRef, since);
          longest = Math.max(longest, now - since);
        }
      }
      await new Promise((r) => setTimeout(r, 50));
    }
  })();
  return {
    async stop(): Promise<number> {
      stopped = true;
      await run;
      return longest;
    },
  };
}

/** The replica's grpc.health.v1 status for the whole server. */
export async function healthOf(replica: Replica): Promise<HealthCheckResponse_ServingStatus> {
  const health = createClient(Health, connectTransport(replica.url, undefined));
  const res = await health.check({ service: "" }, { timeoutMs: 2_000 });
  return res.status;
}

/** One line of the replica's /metrics, as a number (0 when absent). */
export async function metricOf(replica: Replica, line: RegExp): Promise<number> {
  const text = await (await fetch(`${replica.url}/metrics`)).text();
  const m = text.match(line);
  return m ? Number(m[1]) : 0;
}

export { HealthCheckResponse_ServingStatus };
