/**
 * The in-process where evaluator (`where-ast.ts`) against Postgres as the oracle: for random rows
 * and each clause it compiles, its three-valued result equals Postgres'. And live changes of such
 * clauses are filtered without SQL.
 */
import fc from "fast-check";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { loadTableInfo } from "../../tools/shape-server/shapes/table-info.js";
import { compileWhere, NotCompilable } from "../../tools/shape-server/shapes/where-ast.js";
import { checkWhere, loadWhereGrammar } from "../../tools/shape-server/shapes/where-grammar.js";
import { waitFor } from "../support/wait.js";
import { rawGet, type ShapeFixture, startFixture, syncToUpToDate } from "./support/harness.js";

let fx: ShapeFixture;

beforeAll(async () => {
  await loadWhereGrammar();
  fx = await startFixture("shape_where_ast");
  await fx.sql.query(`
    CREATE TABLE rows (id int PRIMARY KEY, n int8, t text, b bool);
    CREATE TABLE live (id int PRIMARY KEY, n int8, t text, b bool);
  `);
});

afterAll(async () => {
  await fx?.close();
});

const CLAUSES: Array<[string, string[]]> = [
  ["n = 3", []],
  ["n <> $1", ["-2"]],
  ["n > 0 AND t = 'a'", []],
  ["n >= $1 OR b", ["2"]],
  ["NOT (n < 1) OR t IS NULL", []],
  ["t IN ('a', 'b', NULL)", []],
  ["n NOT IN (1, 2, NULL)", []],
  ["n NOT IN (1, 2)", []],
  ["b = true AND n <= '4'", []],
  ["t IS NOT NULL AND NOT b", []],
  ["id = $1 OR t <> $2", ["1", "b"]],
  ["b = 'yes' OR n IS NULL", []],
];

const row = fc.record({
  n: fc.option(fc.integer({ min: -3, max: 5 }), { nil: null }),
  t: fc.option(fc.constantFrom("a", "b", "c", ""), { nil: null }),
  b: fc.option(fc.boolean(), { nil: null }),
});

describe("in-process where evaluation", () => {
  it("should compile every clause of the list", async () => {
    const table = await loadTableInfo(fx.sql, { schema: "public", table: "rows" });
    const columns = new Set(table.columns.map((c) => c.name));
    for (const [where, params] of CLAUSES) {
      expect(
        compileWhere(checkWhere(where, { columns, paramCount: params.length }), table, params),
        where,
      ).not.toBe(null);
    }
    const lower = checkWhere("lower(t) = 'a'", { columns, paramCount: 0 });
    expect(compileWhere(lower, table, [])).toBe(null);
    const ordered = checkWhere("t < 'b'", { columns, paramCount: 0 });
    // text ordering depends on the collation: left to Postgres at evaluation time
    expect(() => compileWhere(ordered, table, [])!({ id: "1", n: null, t: "a", b: null })).toThrow(
      NotCompilable,
    );
  });

  it("should agree with Postgres on random rows (three-valued)", async () => {
    const table = await loadTableInfo(fx.sql, { schema: "public", table: "rows" });
    const columns = new Set(table.columns.map((c) => c.name));
    await fc.assert(
      fc.asyncProperty(fc.array(row, { minLength: 1, maxLength: 12 }), async (rows) => {
        await fx.sql.query("TRUNCATE rows");
        for (const [i, r] of rows.entries()) {
          await fx.sql.query("INSERT INTO rows VALUES ($1, $2, $3, $4)", [i + 1, r.n, r.t, r.b]);
        }
        const images = await fx.sql.query<Record<string, string | null>>(
          // bool as its output function writes it (`t`/`f`), as pgoutput sends it
          "SELECT id::text, n::text, t, CASE WHEN b IS NULL THEN NULL ELSE concat(b, '') END AS b FROM rows ORDER BY rows.id",
        );
        for (const [where, params] of CLAUSES) {
          const compiled = compileWhere(
            checkWhere(where, { columns, paramCount: params.length }),
            table,
            params,
          );
          const oracle = await fx.sql.query<{ r: boolean | null }>(
            `SELECT (${where}) AS r FROM rows ORDER BY id`,
            params,
          );
          const ours = images.rows.map((image) => {
            try {
              return compiled!(image);
            } catch {
              return "not compilable";
            }
          });
          // Postgres' answer, or a deliberate fallback for a value this evaluator leaves to it
          ours.forEach((value, i) => {
            if (value !== "not compilable")
              expect(value, `${where} on ${JSON.stringify(rows[i])}`).toBe(oracle.rows[i]!.r);
          });
        }
      }),
      { numRuns: 25 },
    );
  });

  it("should filter live changes of a compiled clause without SQL, and others in Postgres", async () => {
    const compiledShape = await syncToUpToDate(fx.shapeUrl, {
      table: "live",
      where: "n > $1 AND t = 'x'",
      "params[1]": "1",
    });
    const sqlShape = await syncToUpToDate(fx.shapeUrl, { table: "live", where: "upper(t) = 'X'" });
    const before = fx.server.stats().whereEvaluations;
    await fx.sql.query("INSERT INTO live VALUES (1, 5, 'x', NULL), (2, 0, 'x', NULL), (3, 9, 'y', NULL)");
    const compiled = await waitFor(
      async () => {
        const res = await rawGet(fx.shapeUrl, {
          table: "live",
          where: "n > $1 AND t = 'x'",
          "params[1]": "1",
          handle: compiledShape.handle,
          offset: compiledShape.offset,
        });
        const body = res.body as Array<{ value?: { id: string } }>;
        const ids = body.filter((m) => m.value).map((m) => m.value!.id);
        return ids.length > 0 ? ids : undefined;
      },
      { what: "the compiled shape's change" },
    );
    expect(compiled).toEqual(["1"]);
    const viaSql = await rawGet(fx.shapeUrl, {
      table: "live",
      where: "upper(t) = 'X'",
      handle: sqlShape.handle,
      offset: sqlShape.offset,
    });
    expect(
      (viaSql.body as Array<{ value?: { id: string } }>).filter((m) => m.value).map((m) => m.value!.id),
    ).toEqual(["1", "2"]);
    const after = fx.server.stats().whereEvaluations;
    expect(after.inProcess).toBeGreaterThan(before.inProcess);
    expect(after.inPostgres - before.inPostgres).toBe(1);
  });
});
