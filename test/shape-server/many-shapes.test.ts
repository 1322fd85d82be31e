import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type ShapeFixture, StreamRecorder, startFixture } from "./support/harness.js";

const TABLES = 10;
const SHAPES_PER_TABLE = 10;

let fx: ShapeFixture;

beforeAll(async () => {
  fx = await startFixture("shape_many");
  for (let t = 0; t < TABLES; t++) {
    await fx.sql.query(`CREATE TABLE t${t} (id int PRIMARY KEY, bucket int NOT NULL, v text)`);
    await fx.sql.query(
      `INSERT INTO t${t} SELECT g, g % ${SHAPES_PER_TABLE}, 'old' FROM generate_series(0, 19) g`,
    );
  }
});

afterAll(async () => {
  await fx?.close();
});

describe("many shapes on many tables", () => {
  it("should serve 100 shapes on 10 tables from one slot, routing each change only to its shapes", async () => {
    const recorders: Array<{ table: number; bucket: number; rec: StreamRecorder }> = [];
    for (let t = 0; t < TABLES; t++) {
      for (let b = 0; b < SHAPES_PER_TABLE; b++) {
        const rec = new StreamRecorder({
          url: fx.shapeUrl,
          params: { table: `t${t}`, where: "bucket = $1", params: [String(b)] },
        });
        recorders.push({ table: t, bucket: b, rec });
      }
    }
    try {
      for (const { rec } of recorders) await rec.until((r) => r.upToDates >= 1, "initial sync");
      expect(fx.server.stats().shapes).toBe(TABLES * SHAPES_PER_TABLE);
      for (const { table, bucket, rec } of recorders) {
        expect(
          rec.changes.map((c) => c.value.id).sort((a, b) => Number(a) - Number(b)),
          `t${table}/${bucket}`,
        ).toEqual([bucket, bucket + SHAPES_PER_TABLE]);
      }
      const client = await fx.sql.connect();
      try {
        await client.query("BEGIN");
        for (let t = 0; t < TABLES; t++) {
          await client.query(
            `INSERT INTO t${t} SELECT g, g % ${SHAPES_PER_TABLE}, 'new' FROM generate_series(100, 109) g`,
          );
        }
        await client.query("COMMIT");
        // move row 0 of table t0 from bucket 0 to bucket 1
        await client.query("UPDATE t0 SET bucket = 1 WHERE id = 0");
      } finally {
        client.release();
      }
      for (const { table, bucket, rec } of recorders) {
        const expected = 3 + (table === 0 && bucket <= 1 ? 1 : 0);
        await rec.untilChanges(expected);
      }
      for (const { table, bucket, rec } of recorders) {
        const live = rec.changes.slice(2).map((c) => [c.headers.operation, c.value.id]);
        const expected: Array<[string, number]> = [["insert", 100 + bucket]];
        if (table === 0 && bucket === 0) expected.push(["delete", 0]);
        if (table === 0 && bucket === 1) expected.push(["insert", 0]);
        expect(live, `t${table}/${bucket}`).toEqual(expected);
        expect(rec.errors).toEqual([]);
      }
    } finally {
      for (const { rec } of recorders) rec.stop();
    }
  });
});
