/**
 * The where-clause grammar (issue 12, finding 4): what Electric's parser refuses is refused with
 * Electric's 400 before any SQL runs; what it accepts still works with the unmodified client.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { waitFor } from "../support/wait.js";
import {
  createQueryRole,
  rawGet,
  type ShapeFixture,
  StreamRecorder,
  startFixture,
  syncToUpToDate,
} from "./support/harness.js";

let fx: ShapeFixture;

beforeAll(async () => {
  fx = await startFixture("shape_grammar", { queryRole: "shape_reader" });
  await createQueryRole(fx);
  await fx.sql.query(`
    CREATE TABLE notes (id int PRIMARY KEY, owner text, prio int, title text, tags text[], due date);
    INSERT INTO notes VALUES (1, 'ann', 1, 'alpha', '{x}', '2024-01-01'), (2, 'bob', 5, 'beta', '{y}', NULL),
                             (3, 'ann', 9, 'gamma', '{x,y}', '2024-03-01');
    CREATE TABLE other (id int PRIMARY KEY, v text);
    CREATE TABLE secrets (id int PRIMARY KEY, s text);
    INSERT INTO secrets VALUES (1, 'top');
    REVOKE SELECT ON secrets FROM shape_reader;
  `);
});

afterAll(async () => {
  await fx?.close();
});

function refused(message: string) {
  return { message: "Invalid request", errors: { where: [message] } };
}

const ATTACKS: Array<[string, string]> = [
  ["pg_sleep(30) IS NOT NULL", "At location 0: unknown or unsupported function pg_sleep/1"],
  ["pg_notify('pgsync_changes', 'x') IS NULL", "At location 0: unknown or unsupported function pg_notify/2"],
  [
    "set_config('role', 'postgres', false) = 'x'",
    "At location 0: unknown or unsupported function set_config/3",
  ],
  ["pg_terminate_backend(1)", "At location 0: unknown or unsupported function pg_terminate_backend/1"],
  ["lo_from_bytea(0, 'x') > 0", "At location 0: unknown or unsupported function lo_from_bytea/2"],
  ["id = pg_catalog.pg_sleep(1)::int", "At location 5: unknown or unsupported function pg_sleep/1"],
  [
    "(SELECT count(*) FROM secrets) > 0",
    "At location 0: only `value IN (SELECT ...)` sublinks are supported right now",
  ],
  ["(SELECT 1)::int = id", "At location 0: only `value IN (SELECT ...)` sublinks are supported right now"],
  [
    "EXISTS (SELECT 1 FROM secrets)",
    "At location 0: only `value IN (SELECT ...)` sublinks are supported right now",
  ],
  [
    "id IN (SELECT id FROM secrets)",
    "At location 3: subqueries (`value IN (SELECT ...)`) are not supported by this shape server",
  ],
  ["owner = current_user", "At location 8: SQLValueFunction is not supported in this context"],
  ["id::regclass IS NOT NULL", "At location 4: unsupported type regclass"],
  ["owner ~ 'a'", "At location 6: unknown binary operator ~"],
  ["count(*) > 0", "At location 0: aggregation is not supported in this context"],
  ["secrets.s = 'top'", "At location 0: unknown reference secrets.s"],
  ["true; SELECT pg_sleep(1)", 'unescaped ";" causing statement split'],
  ["true ORDER BY 1", "malformed query ending with SQL clauses"],
];

describe("where-clause grammar", () => {
  it.each(ATTACKS)("should refuse %s with Electric's 400 before any SQL runs", async (where, message) => {
    const started = Date.now();
    const res = await rawGet(fx.shapeUrl, { table: "notes", offset: "-1", where });
    expect(res.status).toBe(400);
    expect(res.body).toEqual(refused(message));
    expect(Date.now() - started).toBeLessThan(2_000);
    expect(fx.server.shapes().filter((s) => s.where === where)).toEqual([]);
  });

  it("should send no notification for a pg_notify where clause", async () => {
    const listener = await fx.sql.connect();
    try {
      const received: string[] = [];
      listener.on("notification", (n) => received.push(n.payload ?? ""));
      await listener.query("LISTEN grammar_probe");
      const res = await rawGet(fx.shapeUrl, {
        table: "notes",
        offset: "-1",
        where: "pg_notify('grammar_probe', 'from-where') IS NULL",
      });
      expect(res.status).toBe(400);
      // Our own notification arrives after anything the request could have sent.
      await fx.sql.query("NOTIFY grammar_probe, 'sentinel'");
      await waitFor(() => received.includes("sentinel"), { what: "the sentinel notification" });
      expect(received).toEqual(["sentinel"]);
    } finally {
      await listener.query("UNLISTEN *");
      listener.release();
    }
  });

  it("should accept Electric's subset with the unmodified client, snapshot and live", async () => {
    const where =
      "owner IN ('ann', $1) AND prio BETWEEN 1 AND $2::int4 AND lower(title) LIKE '%a' AND " +
      "'x' = ANY(tags) AND coalesce(due, '2030-01-01'::date) > '2023-12-31' AND NOT (id <> id) IS DISTINCT FROM false";
    const rec = new StreamRecorder({
      url: fx.shapeUrl,
      params: { table: "notes", where, params: ["cy", "9"] },
    });
    try {
      await rec.until((r) => r.upToDates >= 1, "initial sync");
      expect(rec.changes.map((c) => c.value.id)).toEqual([1, 3]);
      await fx.sql.query(`INSERT INTO notes VALUES (4, 'cy', 2, 'delta', '{x}', NULL), (5, 'cy', 2, 'eps', '{x}', NULL),
                                                   (6, 'dan', 2, 'theta', '{x}', NULL)`);
      await rec.untilChanges(3);
      expect(rec.changes.map((c) => [c.headers.operation, c.value.id])).toEqual([
        ["insert", 1],
        ["insert", 3],
        ["insert", 4],
      ]);
      expect(rec.errors).toEqual([]);
    } finally {
      rec.stop();
    }
  });

  it("should not let a sleeping where clause delay another shape's changes", async () => {
    const { handle, offset } = await syncToUpToDate(fx.shapeUrl, { table: "other" });
    const sleeping = rawGet(fx.shapeUrl, { table: "other", offset: "-1", where: "pg_sleep(5) IS NOT NULL" });
    const sleepy = await sleeping;
    expect(sleepy.status).toBe(400);
    const started = Date.now();
    await fx.sql.query("INSERT INTO other VALUES (1, 'now')");
    const live = await rawGet(fx.shapeUrl, { table: "other", offset, handle, live: "true" });
    expect(live.status).toBe(200);
    expect(JSON.stringify(live.body)).toContain('"now"');
    expect(Date.now() - started).toBeLessThan(3_000);
  });

  it("should run where clauses as the query role: a table it may not read is not served", async () => {
    const res = await rawGet(fx.shapeUrl, { table: "secrets", offset: "-1", where: "id > 0" });
    expect(res.status).toBe(400);
    expect(res.body).toEqual(refused("permission denied for table secrets"));
  });
});
