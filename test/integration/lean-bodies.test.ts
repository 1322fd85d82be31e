import { isChangeMessage, type Message, type Row, ShapeStream } from "@electric-sql/client";
import pg from "pg";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type Child, startShapeServerProcess } from "../../scripts/lib/processes.js";
import { createLeanBodies } from "../../src/bridge/lean-bodies.js";
import { JSON_SAFE_PARSER, NO_CLIENT_RETRIES } from "../../src/bridge/shape-batches.js";
import { createTestDatabase, type TestDatabase } from "../support/db.js";
import { waitFor } from "../support/wait.js";

let db: TestDatabase;
let sql: pg.Pool;
let shape: { child: Child; url: string };

const ROWS = 400;

beforeAll(async () => {
  db = await createTestDatabase("lean");
  sql = new pg.Pool({ connectionString: db.url, max: 2 });
  await sql.query(`CREATE TABLE typed (id int8 PRIMARY KEY, small int2, n int4 NOT NULL, f4 real, f8 float8,
    flag bool, doc jsonb, j json, amount numeric, note text, at timestamptz, u uuid)`);
  await sql.query("ALTER TABLE typed REPLICA IDENTITY FULL");
  await insertRows(0, ROWS);
  shape = await startShapeServerProcess(db.url, { SHAPE_LONG_POLL_TIMEOUT_MS: "1000" });
});

afterAll(async () => {
  await shape?.child.stop();
  await sql?.end();
  await db?.drop();
});

/** Rows `from`..`from + n - 1`, with NULLs, NaN, infinities and int8 beyond 2^53 among them. */
async function insertRows(from: number, n: number): Promise<void> {
  await sql.query(
    `INSERT INTO typed (id, small, n, f4, f8, flag, doc, j, amount, note, at, u)
     SELECT 9007199254740993 + i, CASE WHEN i % 3 = 0 THEN NULL ELSE i % 32000 END, i,
       CASE i % 4 WHEN 0 THEN 'NaN'::real WHEN 1 THEN 'Infinity'::real ELSE i / 7.0 END,
       CASE i % 5 WHEN 0 THEN '-Infinity'::float8 WHEN 1 THEN NULL ELSE i * 1.5 END,
       i % 2 = 0, jsonb_build_object('i', i, 'nested', jsonb_build_array(i, 'x')),
       CASE WHEN i % 7 = 0 THEN NULL ELSE json_build_object('q', repeat('é', i % 5)) END,
       i * 1000000000000.000001, 'row "' || i || '"', to_timestamp(1700000000 + i), md5(i::text)::uuid
     FROM generate_series($1::int, $2::int) AS i`,
    [from, from + n - 1],
  );
}

/** One consumer of the `typed` shape from its start: the client alone, or behind lean bodies. */
function consume(lean: boolean) {
  const changes: Message<Row<unknown>>[] = [];
  const handed = { lean: 0, whole: 0 };
  const bodies = createLeanBodies(fetch, JSON_SAFE_PARSER);
  const spy: typeof fetch = async (input, init) => {
    const response = await bodies.fetch(input, init);
    const text = await response.clone().text();
    if (/"pgsync-[0-9a-f]{12}"/.test(text)) handed.lean++;
    else handed.whole++;
    return response;
  };
  const aborter = new AbortController();
  const stream = new ShapeStream<Row<unknown>>({
    url: shape.url,
    params: { table: "typed", replica: "full" },
    parser: JSON_SAFE_PARSER,
    backoffOptions: NO_CLIENT_RETRIES,
    ...(lean ? { fetchClient: spy } : {}),
    signal: aborter.signal,
  });
  stream.subscribe((messages) => {
    for (const m of lean ? bodies.restore(messages) : messages) if (isChangeMessage(m)) changes.push(m);
  });
  return { changes, handed, stop: () => aborter.abort() };
}

describe("lean bodies against the shape server", () => {
  it("should give pg-sync exactly the messages the Electric client parses itself, for every column type", async () => {
    const plain = consume(false);
    const lean = consume(true);
    try {
      const all = (n: number) => () => plain.changes.length >= n && lean.changes.length >= n;
      await waitFor(all(ROWS), { what: "the snapshot in both consumers", timeoutMs: 20_000 });
      // One large live transaction: updates with old values, deletes, inserts.
      const tx = await sql.connect();
      try {
        await tx.query("BEGIN");
        await tx.query("UPDATE typed SET note = note || ' updated', flag = NOT flag WHERE n % 2 = 0");
        await tx.query("DELETE FROM typed WHERE n % 10 = 1");
        await tx.query("COMMIT");
      } finally {
        tx.release();
      }
      await insertRows(ROWS, 200);
      const expected = ROWS + ROWS / 2 + ROWS / 10 + 200;
      await waitFor(all(expected), { what: `${expected} changes in both consumers`, timeoutMs: 20_000 });
      expect(lean.changes).toEqual(plain.changes);
      expect(lean.changes).toHaveLength(expected);
      expect(lean.handed.lean).toBeGreaterThanOrEqual(2); // the snapshot and the live transaction
    } finally {
      plain.stop();
      lean.stop();
    }
  });
});
