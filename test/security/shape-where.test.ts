/**
 * Issue 12, finding 4, as an attacker would try it: a tenant's where clause reaches the bundled
 * shape server. Sleeping, side-effecting and table-reading clauses must be refused with
 * Electric's 400 before any SQL runs, and must not delay another tenant's changes.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { rawGet, type ShapeFixture, startFixture, syncToUpToDate } from "../shape-server/support/harness.js";

let fx: ShapeFixture;

beforeAll(async () => {
  fx = await startFixture("sec_shape_where");
  await fx.sql.query(`
    CREATE TABLE tenant_a (id int PRIMARY KEY, v text);
    CREATE TABLE tenant_b (id int PRIMARY KEY, v text);
    CREATE TABLE private_state (id int PRIMARY KEY, secret text);
    INSERT INTO tenant_a VALUES (1, 'a');
    INSERT INTO private_state VALUES (1, 'hunter2');
  `);
});

afterAll(async () => {
  await fx?.close();
});

const invalid = (message: string) => ({ message: "Invalid request", errors: { where: [message] } });

describe("shape server where clauses from a hostile tenant", () => {
  it("should refuse a sleeping clause at once and keep another tenant's changes on time", async () => {
    const victim = await syncToUpToDate(fx.shapeUrl, { table: "tenant_b" });
    const attack = await rawGet(fx.shapeUrl, {
      table: "tenant_a",
      offset: "-1",
      where: "pg_sleep(5) IS NOT NULL",
    });
    expect(attack.status).toBe(400);
    expect(attack.body).toEqual(invalid("At location 0: unknown or unsupported function pg_sleep/1"));
    // the attacker's table changes too, so an accepted sleeping clause would be evaluated now
    await fx.sql.query("INSERT INTO tenant_a VALUES (2, 'b'); INSERT INTO tenant_b VALUES (1, 'on time')");
    const started = Date.now();
    const live = await rawGet(fx.shapeUrl, {
      table: "tenant_b",
      offset: victim.offset,
      handle: victim.handle,
      live: "true",
    });
    expect(JSON.stringify(live.body)).toContain("on time");
    expect(Date.now() - started).toBeLessThan(3_000);
  });

  it.each([
    [
      "pg_notify('pgsync_changes', '{}') IS NULL",
      "At location 0: unknown or unsupported function pg_notify/2",
    ],
    [
      "set_config('statement_timeout', '0', false) <> ''",
      "At location 0: unknown or unsupported function set_config/3",
    ],
    [
      "pg_terminate_backend(pg_backend_pid())",
      "At location 0: unknown or unsupported function pg_terminate_backend/1",
    ],
    ["lo_from_bytea(0, '\\x00') > 0", "At location 0: unknown or unsupported function lo_from_bytea/2"],
    [
      "v = (SELECT secret FROM private_state LIMIT 1)",
      "At location 4: only `value IN (SELECT ...)` sublinks are supported right now",
    ],
    [
      "(SELECT secret FROM private_state)::text IS NOT NULL",
      "At location 0: only `value IN (SELECT ...)` sublinks are supported right now",
    ],
  ])("should refuse %s with a 400 and run nothing", async (where, message) => {
    const res = await rawGet(fx.shapeUrl, { table: "tenant_a", offset: "-1", where });
    expect(res.status).toBe(400);
    expect(res.body).toEqual(invalid(message));
    expect(res.text).not.toContain("hunter2");
  });
});
