import { randomBytes } from "node:crypto";
import pg from "pg";
import { inject } from "vitest";

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
        await client.query(`DROP DATABASE IF EXISTS "${name}" WITH (FORCE)`);
      } finally {
        await client.end();
      }
    },
  };
}
