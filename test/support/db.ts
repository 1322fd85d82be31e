import { randomBytes } from "node:crypto";
import pg from "pg";
import { inject } from "vitest";
import { waitFor } from "./wait.js";

/** A fresh database on the run's cluster, dropped by `drop()`. */
export interface TestDatabase {
  /** Connection URL of the new database. */
  readonly url: string;
  /** Name of the new database. */
  readonly name: string;
  /** Drops the database, terminating its connections first. */
  drop(): Promise<void>;
}

/** URL of the run's cluster with the database name replaced. */
export function databaseUrl(name: string): string {
  const url = new URL(inject("pgUrl"));
  url.pathname = `/${name}`;
  return url.toString();
}

/** How long {@link TestDatabase.drop} lets the database's own sessions finish before it forces them. */
const SESSIONS_END_TIMEOUT_MS = 5_000;

/**
 * Waits (with a deadline) until no session is connected to `name`. Pools that are still ending
 * their clients would otherwise be killed mid-`end()` by `DROP ... WITH (FORCE)`, and node-postgres
 * reports that as an unhandled "terminating connection" error in the test process.
 */
async function waitForSessionsToEnd(admin: pg.Client, name: string): Promise<void> {
  const ended = async () => {
    const { rows } = await admin.query<{ n: number }>(
      "SELECT count(*)::int AS n FROM pg_stat_activity WHERE datname = $1",
      [name],
    );
    return (rows[0]?.n ?? 0) === 0 ? true : undefined;
  };
  // Past the deadline the drop forces whatever is left (a leaked pool must not hang teardown).
  await waitFor(ended, { what: `sessions of ${name} to end`, timeoutMs: SESSIONS_END_TIMEOUT_MS }).catch(
    () => undefined,
  );
}

/** Creates a database named after `prefix` plus a random suffix, so each test file gets its own. */
export async function createTestDatabase(prefix = "t"): Promise<TestDatabase> {
  const safe = prefix
    .toLowerCase()
    .replace(/[^a-z0-9_]/g, "_")
    .slice(0, 40);
  const name = `${safe}_${randomBytes(4).toString("hex")}`;
  const admin = new pg.Client({ connectionString: inject("pgUrl") });
  await admin.connect();
  try {
    await admin.query(`CREATE DATABASE "${name}"`);
  } finally {
    await admin.end();
  }
  return {
    url: databaseUrl(name),
    name,
    async drop() {
      const client = new pg.Client({ connectionString: inject("pgUrl") });
      await client.connect();
      try {
        await waitForSessionsToEnd(client, name);
        await client.query(`DROP DATABASE IF EXISTS "${name}" WITH (FORCE)`);
      } finally {
        await client.end();
      }
    },
  };
}
