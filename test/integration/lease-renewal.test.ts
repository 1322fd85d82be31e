import type pg from "pg";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type Stack, startStack } from "../support/stack-fixture.js";
import { waitFor } from "../support/wait.js";

/**
 * Lease renewals must not wait behind the bridges' work: with thousands of sources starting at
 * once every connection of the shared pool can be busy for longer than a renewal may take, and a
 * late renewal makes the watchdog stop every bridge (which then all start again).
 */

const TTL_MS = 1_500;
let stack: Stack;

beforeAll(async () => {
  stack = await startStack({ env: { PGSYNC_LEASE_TTL_MS: String(TTL_MS), PGSYNC_DB_POOL_SIZE: "2" } });
  await stack.sql.query("CREATE TABLE renewed (id int PRIMARY KEY)");
});

afterAll(async () => {
  await stack?.close();
});

async function heartbeat(): Promise<number> {
  const { rows } = await stack.sql.query<{ at: Date }>("SELECT max(heartbeat_at) AS at FROM pgsync.replicas");
  return rows[0]?.at?.getTime() ?? 0;
}

/** `pgsync_leases_lost_total` summed over reasons: leases this replica gave up unwillingly. */
async function leasesLost(): Promise<number> {
  const text = await (await fetch(new URL("/metrics", stack.url))).text();
  return [...text.matchAll(/^pgsync_leases_lost_total(?:\{[^}]*\})? (\d+)/gm)].reduce(
    (n, m) => n + Number(m[1]),
    0,
  );
}

describe("lease renewal", () => {
  it("should keep renewing while every connection of the shared pool is busy", async () => {
    await stack.a.registerSource({ options: { table: "renewed" } });
    const lostBefore = await leasesLost();
    const held: pg.PoolClient[] = [];
    try {
      for (let i = 0; i < 2; i++) held.push(await stack.server.pool.connect());
      const since = await heartbeat();
      // Two TTLs of renewals with the shared pool exhausted: the watchdog would have fired.
      await waitFor(async () => (await heartbeat()) >= since + 2 * TTL_MS || undefined, {
        what: "renewals while the shared pool is exhausted",
        timeoutMs: 8 * TTL_MS,
      });
      const { rows } = await stack.sql.query<{ n: string }>(
        "SELECT count(*) AS n FROM pgsync.leases WHERE live",
      );
      expect(Number(rows[0]?.n)).toBeGreaterThan(0);
    } finally {
      for (const client of held) client.release();
    }
    expect(await leasesLost()).toBe(lostBefore);
  });
});
