import pg from "pg";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  type Child,
  pgSyncEnv,
  startPgSyncProcess,
  startShapeServerProcess,
  TOKENS,
} from "../../scripts/lib/processes.js";
import { createTestDatabase, type TestDatabase } from "../support/db.js";
import { connectClient } from "../support/stack-fixture.js";
import { waitFor } from "../support/wait.js";

let db: TestDatabase;
let sql: pg.Pool;
let shape: { child: Child; url: string };
let pgsync: { child: Child; url: string } | undefined;

beforeAll(async () => {
  db = await createTestDatabase("crash");
  sql = new pg.Pool({ connectionString: db.url, max: 4 });
  await sql.query("CREATE TABLE events (id bigserial PRIMARY KEY, n int NOT NULL UNIQUE)");
  shape = await startShapeServerProcess(db.url, { SHAPE_LONG_POLL_TIMEOUT_MS: "1000" });
});

afterAll(async () => {
  await pgsync?.child.stop("SIGKILL");
  await shape?.child.stop();
  await sql?.end();
  await db?.drop();
});

describe("crash recovery", () => {
  it("should log every change exactly once, in order, across a SIGKILL while rows are written", async () => {
    // A short lease TTL: the restarted process takes the killed one's lease over when it expires.
    const env = pgSyncEnv(db.url, shape.url, 0, { PGSYNC_LEASE_TTL_MS: "3000" });
    pgsync = await startPgSyncProcess(env);
    const { sourceRef } = await connectClient(pgsync.url, TOKENS.a).registerSource({
      options: { table: "events" },
    });

    // A writer commits one row per transaction, numbered 1, 2, ... from before the kill until
    // 100 rows after the restart, so rows are written while pg-sync is down and after.
    let written = 0;
    let writtenAtRestart = Number.POSITIVE_INFINITY;
    const writer = (async () => {
      for (let n = 1; n < writtenAtRestart + 100; n++) {
        await sql.query("INSERT INTO events (n) VALUES ($1)", [n]);
        written = n;
      }
    })();

    await waitFor(
      async () => {
        const { rows } = await sql.query<{ c: string }>(
          "SELECT count(*) AS c FROM pgsync.changes WHERE source_ref = $1",
          [sourceRef],
        );
        return Number(rows[0]?.c) >= 50 ? true : undefined;
      },
      { what: "50 changes logged before the kill", timeoutMs: 30_000 },
    );
    await pgsync.child.stop("SIGKILL");
    const writtenAtKill = written;
    pgsync = await startPgSyncProcess({ ...env, PGSYNC_LISTEN: `127.0.0.1:${new URL(pgsync.url).port}` });
    writtenAtRestart = written;
    await writer;
    const total = written;
    expect(writtenAtKill).toBeLessThan(total);

    const log = await waitFor(
      async () => {
        const { rows } = await sql.query<{ seq: string; n: number; kind: string }>(
          "SELECT seq, kind, (value->>'n')::int AS n FROM pgsync.changes WHERE source_ref = $1 ORDER BY seq",
          [sourceRef],
        );
        return rows.length >= total ? rows : undefined;
      },
      { what: `${total} changes logged after restart`, timeoutMs: 60_000 },
    );

    expect(log.filter((r) => r.kind === "gap")).toEqual([]);
    expect(log.map((r) => r.n)).toEqual(Array.from({ length: total }, (_, i) => i + 1));
    expect(log.map((r) => Number(r.seq))).toEqual(Array.from({ length: total }, (_, i) => i + 1));

    const { rows } = await sql.query<{ head_seq: string; shape_offset: string }>(
      "SELECT head_seq, shape_offset FROM pgsync.cursors WHERE source_ref = $1",
      [sourceRef],
    );
    expect(Number(rows[0]?.head_seq)).toBe(total);
    const lastOffset = await sql.query<{ o: string }>(
      "SELECT shape_offset AS o FROM pgsync.changes WHERE source_ref = $1 ORDER BY seq DESC LIMIT 1",
      [sourceRef],
    );
    const [tx, op] = (rows[0]?.shape_offset ?? "0_0").split("_").map(BigInt);
    const [ltx, lop] = (lastOffset.rows[0]?.o ?? "0_0").split("_").map(BigInt);
    // The cursor is at or past the last logged change: nothing logged lies beyond the cursor.
    expect((tx as bigint) > (ltx as bigint) || (tx === ltx && (op as bigint) >= (lop as bigint))).toBe(true);
  });
});
