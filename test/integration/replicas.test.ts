import { describe, expect, it, onTestFinished } from "vitest";
import { pgSyncEnv, startProcess } from "../../scripts/lib/processes.js";
import { FencedError } from "../../src/domain/errors.js";
import { PgCursorStore } from "../../src/storage/pg-cursor-store.js";
import {
  createReplicaCluster,
  expectBalanced,
  expectExactLogs,
  HealthCheckResponse_ServingStatus,
  healthOf,
  metricOf,
  registerAll,
  startWriter,
  TAKEOVER_BOUND_MS,
  waitAllOwned,
  watchOwnership,
} from "../support/replica-cluster.js";
import { startTcpProxy } from "../support/tcp-proxy.js";
import { waitFor } from "../support/wait.js";

const SOURCES = 30;

async function cluster(prefix: string) {
  const c = await createReplicaCluster(prefix, SOURCES);
  onTestFinished(() => c.close());
  return c;
}

describe("replicas", { timeout: 150_000 }, () => {
  it("should take over a SIGKILLed replica's sources within TTL + 5 s and log every row exactly once, in order", async () => {
    const c = await cluster("kill");
    const [a, b, k] = await Promise.all([c.start("ra"), c.start("rb"), c.start("rk")]);
    await registerAll(c, a, SOURCES);
    expectBalanced(await waitAllOwned(c, ["ra", "rb", "rk"], "30 sources LIVE over three replicas"), [
      "ra",
      "rb",
      "rk",
    ]);
    const writer = startWriter(c.sql, SOURCES);
    await waitFor(() => writer.written.every((n) => n >= 2), { what: "rows on every table" });
    const orphans = (await c.leases()).filter((l) => l.owner === "rk").map((l) => l.sourceRef);
    expect(orphans.length).toBeGreaterThan(0);

    await k.child.stop("SIGKILL");
    const killedAt = Date.now();
    await waitFor(
      async () => {
        const leases = await c.leases();
        return orphans.every((ref) =>
          leases.some((l) => l.sourceRef === ref && l.live && (l.owner === "ra" || l.owner === "rb")),
        );
      },
      { what: "the killed replica's sources owned by a live replica", timeoutMs: TAKEOVER_BOUND_MS + 5_000 },
    );
    expect(Date.now() - killedAt).toBeLessThanOrEqual(TAKEOVER_BOUND_MS);
    expectBalanced(await waitAllOwned(c, ["ra", "rb"], "every source LIVE on the survivors"), ["ra", "rb"]);
    await waitFor(() => writer.written.every((n) => n >= 6), { what: "rows after the takeover" });
    await writer.stop();
    await expectExactLogs(c, writer.written);
    expect(await metricOf(b, /^pgsync_leases_acquired_total (\d+)/m)).toBeGreaterThan(0);
  });

  it("should refuse a SIGSTOPped replica's late commit by the term, with no duplicate or reordering", async () => {
    const c = await cluster("pause");
    const [a, , p] = await Promise.all([c.start("ra"), c.start("rb"), c.start("rp")]);
    await registerAll(c, a, SOURCES);
    await waitAllOwned(c, ["ra", "rb", "rp"], "30 sources LIVE");
    const writer = startWriter(c.sql, SOURCES);
    await waitFor(() => writer.written.every((n) => n >= 2), { what: "rows on every table" });
    const paused = (await c.leases()).filter((l) => l.owner === "rp");
    expect(paused.length).toBeGreaterThan(0);

    p.child.process.kill("SIGSTOP");
    await waitFor(
      async () => {
        const leases = await c.leases();
        return paused.every((old) =>
          leases.some(
            (l) =>
              l.sourceRef === old.sourceRef && l.live && l.owner !== "rp" && l.generation > old.generation,
          ),
        );
      },
      {
        what: "the paused replica's sources taken over with new terms",
        timeoutMs: TAKEOVER_BOUND_MS + 5_000,
      },
    );
    // The statement every bridge commits with refuses the paused replica's term and writes nothing.
    const stale = paused[0] as (typeof paused)[number];
    const store = new PgCursorStore(c.sql);
    await expect(
      store.commit({
        tenant: "tenant-a",
        sourceRef: stale.sourceRef,
        generation: stale.generation,
        shapeHandle: "late-handle",
        shapeOffset: "999999999_0",
        gap: undefined,
        changes: [
          {
            key: "late",
            operation: "insert",
            value: { n: -1 },
            oldValue: undefined,
            offset: "999999999_0",
            txids: [],
          },
        ],
        upToDate: true,
      }),
    ).rejects.toBeInstanceOf(FencedError);
    // The new owner keeps committing the writer's rows meanwhile, so the head may move: what must
    // not exist is any trace of the stale commit.
    const late = await c.sql.query(
      "SELECT count(*)::int AS n FROM pgsync.changes WHERE source_ref = $1 AND (key = 'late' OR shape_offset = '999999999_0')",
      [stale.sourceRef],
    );
    expect(late.rows[0]?.n).toBe(0);
    expect((await store.get("tenant-a", stale.sourceRef))?.shapeHandle).not.toBe("late-handle");

    p.child.process.kill("SIGCONT");
    // Woken up, it finds its leases gone and stops those bridges; its commits cannot land.
    await p.child.waitFor(/leases could not be renewed in time|lease lost|commit refused/, 20_000);
    await waitFor(() => writer.written.every((n) => n >= 8), { what: "rows after the pause" });
    await writer.stop();
    await expectExactLogs(c, writer.written);
    const leases = await c.leases();
    expect(
      leases.filter((l) =>
        paused.some(
          (old) => old.sourceRef === l.sourceRef && l.owner === "rp" && l.generation === old.generation,
        ),
      ),
    ).toEqual([]);
  });

  it("should lose and duplicate nothing in a rolling restart under load, no source unowned past TTL + 5 s", async () => {
    const c = await cluster("rolling");
    const ids = ["ra", "rb", "rc"];
    const first = await Promise.all(ids.map((id) => c.start(id)));
    await registerAll(c, first[0] as (typeof first)[number], SOURCES);
    await waitAllOwned(c, ids, "30 sources LIVE");
    const writer = startWriter(c.sql, SOURCES);
    const sampler = watchOwnership(c);
    for (const id of ids) {
      const old = c.replicas.get(id);
      expect(await old?.child.stop("SIGTERM")).toBe(0);
      await c.start(id); // same id, new process: the old one left the cluster
      await waitFor(async () => ((await c.counts()).get(id) ?? 0) >= 9, {
        what: `${id} back with its share`,
        timeoutMs: 20_000,
      });
    }
    const longestUnownedMs = await sampler.stop();
    expect(longestUnownedMs).toBeLessThanOrEqual(TAKEOVER_BOUND_MS);
    expectBalanced(await waitAllOwned(c, ids, "every source LIVE after the restarts"), ids);
    await writer.stop();
    await expectExactLogs(c, writer.written);
  });

  it("should hand a SIGTERMed replica's sources over at once, not at the next renewal", async () => {
    const c = await createReplicaCluster("handover", 6);
    onTestFinished(() => c.close());
    // A 60 s lease is renewed (and re-planned) every 20 s: only the release announcement can
    // move the sources within the bound below.
    const env = { PGSYNC_LEASE_TTL_MS: "60000" };
    const [a] = await Promise.all([c.start("ra", env), c.start("rb", env)]);
    await registerAll(c, a as NonNullable<typeof a>, 6);
    expect(await waitAllOwned(c, ["ra", "rb"], "6 sources over two replicas")).toEqual(
      new Map([
        ["ra", 3],
        ["rb", 3],
      ]),
    );
    const stoppedAt = Date.now();
    expect(await c.replicas.get("rb")?.child.stop("SIGTERM")).toBe(0);
    await waitFor(async () => (await c.counts()).get("ra") === 6, {
      what: "ra owning every source",
      timeoutMs: 5_000,
      intervalMs: 20,
    });
    expect(Date.now() - stoppedAt).toBeLessThan(5_000);
    await waitAllOwned(c, ["ra"], "every source LIVE on ra", 10_000);
  });

  it("should keep ownership balanced after a replica joins and after one leaves", async () => {
    const c = await cluster("balance");
    const [a] = await Promise.all([c.start("ra"), c.start("rb")]);
    await registerAll(c, a as NonNullable<typeof a>, SOURCES);
    const two = await waitAllOwned(c, ["ra", "rb"], "30 sources over two replicas");
    expect([two.get("ra"), two.get("rb")]).toEqual([15, 15]);

    await c.start("rc");
    const joined = await waitFor(
      async () => {
        const counts = await c.counts();
        return ["ra", "rb", "rc"].every((id) => counts.get(id) === 10) ? counts : undefined;
      },
      { what: "10 each after rc joined", timeoutMs: 20_000 },
    );
    expectBalanced(joined, ["ra", "rb", "rc"]);
    await waitAllOwned(c, ["ra", "rb", "rc"], "every source LIVE after the join");

    await c.replicas.get("rb")?.child.stop("SIGTERM");
    const left = await waitAllOwned(c, ["ra", "rc"], "every source LIVE after rb left");
    expect([left.get("ra"), left.get("rc")]).toEqual([15, 15]);
  });

  it("should stop a replica cut off from the state database and let the others take its sources", async () => {
    const c = await cluster("partition");
    const target = new URL(c.db.url);
    const proxy = await startTcpProxy(target.hostname, Number(target.port));
    onTestFinished(() => proxy.close());
    const viaProxy = new URL(c.db.url);
    viaProxy.port = String(proxy.port);
    const [a] = await Promise.all([c.start("ra"), c.start("rb")]);
    const cut = await c.start("rx", { PGSYNC_DATABASE_URL: viaProxy.toString() });
    await registerAll(c, a as NonNullable<typeof a>, SOURCES);
    await waitAllOwned(c, ["ra", "rb", "rx"], "30 sources LIVE over three replicas");
    expect(await healthOf(cut)).toBe(HealthCheckResponse_ServingStatus.SERVING);
    const writer = startWriter(c.sql, SOURCES);

    await proxy.cut();
    await waitFor(async () => (await healthOf(cut)) === HealthCheckResponse_ServingStatus.NOT_SERVING, {
      what: "the cut-off replica NOT_SERVING",
      timeoutMs: TAKEOVER_BOUND_MS,
    });
    await waitFor(async () => (await metricOf(cut, /^pgsync_leases_held (\d+)/m)) === 0, {
      what: "the cut-off replica holding no lease",
      timeoutMs: TAKEOVER_BOUND_MS,
    });
    expect(await metricOf(cut, /^pgsync_bridges\{state="LIVE"\} (\d+)/m)).toBe(0);
    await waitAllOwned(c, ["ra", "rb"], "every source LIVE on the others", TAKEOVER_BOUND_MS + 5_000);
    await waitFor(() => writer.written.every((n) => n >= 6), { what: "rows after the takeover" });
    await writer.stop();
    await expectExactLogs(c, writer.written);
    expect(await healthOf(cut)).toBe(HealthCheckResponse_ServingStatus.NOT_SERVING);
  });

  it("should claim nothing when a second process cannot bind its port, and show a fenced bridge as not LIVE", async () => {
    const c = await createReplicaCluster("bind", 3);
    onTestFinished(() => c.close());
    // A long lease (renewed every 20 s): the term bumped below must meet the bridge's next commit,
    // not a renewal first (which would drop the lease as lost instead of fenced).
    const a = await c.start("ra", { PGSYNC_LEASE_TTL_MS: "60000" });
    await registerAll(c, a, 3);
    await waitAllOwned(c, ["ra"], "3 sources LIVE");
    const before = await c.leases();
    const port = new URL(a.url).port;
    const second = startProcess("src/main.ts", {
      ...pgSyncEnv(c.db.url, c.shapeUrl, Number(port)),
      PGSYNC_REPLICA_ID: "rsecond",
      PGSYNC_LEASE_TTL_MS: "2000",
    });
    expect(await second.exit()).not.toBe(0);
    expect(second.output()).toMatch(/EADDRINUSE|address already in use/);
    expect(await c.leases()).toEqual(before);

    // A term bumped behind the owner's back (as that second process used to do): its next commit
    // is refused, and the bridge leaves the LIVE count at once instead of being reported LIVE.
    const ref = c.refs[0] as string;
    await waitFor(
      async () => {
        const { rows } = await c.sql.query<{ fresh: boolean }>(
          "SELECT heartbeat_at > now() - interval '10 seconds' AS fresh FROM pgsync.replicas WHERE replica_id = 'ra'",
        );
        return rows[0]?.fresh === true;
      },
      { what: "ra's next renewal at least 10 s away", timeoutMs: 30_000 },
    );
    const { rows: bumpedRows } = await c.sql.query<{ generation: string }>(
      "UPDATE pgsync.cursors SET generation = generation + 1 WHERE source_ref = $1 RETURNING generation",
      [ref],
    );
    const bumped = BigInt(bumpedRows[0]?.generation ?? "0");
    await c.sql.query("INSERT INTO t0 (n) VALUES (1)");
    await waitFor(async () => (await metricOf(a, /^pgsync_fenced_commits_total (\d+)/m)) === 1, {
      what: "the fenced commit counted",
    });
    // The fenced bridge was dropped as a lost lease; the source is then re-acquired at once, at a
    // new term, and runs again (so the LIVE count is back to 3 rather than frozen at a stale 3).
    expect(await metricOf(a, /^pgsync_leases_lost_total\{reason="fenced"\} (\d+)/m)).toBe(1);
    await waitFor(
      async () => {
        const lease = (await c.leases()).find((l) => l.sourceRef === ref);
        return lease?.owner === "ra" && lease.live && lease.generation > bumped;
      },
      { what: "the fenced source re-acquired by ra at a new term" },
    );
    await waitFor(async () => (await metricOf(a, /^pgsync_bridges\{state="LIVE"\} (\d+)/m)) === 3, {
      what: "its new bridge LIVE: 3 LIVE bridges again",
    });
  });
});
