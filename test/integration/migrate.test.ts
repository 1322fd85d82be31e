import pg from "pg";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startProcess } from "../../scripts/lib/processes.js";
import { loadMigrations, migrate } from "../../src/storage/migrate.js";
import { createTestDatabase, type TestDatabase } from "../support/db.js";

let db: TestDatabase;

beforeAll(async () => {
  db = await createTestDatabase("migrate");
});

afterAll(async () => {
  await db?.drop();
});

describe("migrations", () => {
  it("should come up when two processes migrate the same database at once", async () => {
    const env = { MIGRATE_DATABASE_URL: db.url };
    const children = [
      startProcess("test/support/migrate-once.ts", env),
      startProcess("test/support/migrate-once.ts", env),
    ];
    const outputs = await Promise.all(children.map((c) => c.waitFor(/applied (\[[^\]]*\])/, 30_000)));
    const applied = outputs.map((m) => JSON.parse(m[1] as string) as number[]);
    const all = (await loadMigrations()).map((m) => m.version);
    // Exactly one process applied each migration; the other found nothing to do.
    expect([...applied[0]!, ...applied[1]!].sort()).toEqual(all);
    expect(await Promise.all(children.map((c) => c.exit()))).toEqual([0, 0]);
  });

  it("should be a no-op when run again", async () => {
    const pool = new pg.Pool({ connectionString: db.url });
    try {
      expect(await migrate(pool)).toEqual([]);
      const { rows } = await pool.query("SELECT version FROM pgsync.schema_migrations ORDER BY version");
      expect(rows.map((r) => r.version)).toEqual((await loadMigrations()).map((m) => m.version));
    } finally {
      await pool.end();
    }
  });
});
