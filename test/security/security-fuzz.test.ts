/**
 * Issue 12: random RegisterSource and WatchWakes requests against a real pg-sync process (with
 * the bundled shape server): each gets a clear answer (success, or an error with a client-facing
 * code and a message, never INTERNAL or UNKNOWN), the process stays up, and a refused request
 * writes nothing to the state database.
 */
import { Code, ConnectError } from "@connectrpc/connect";
import fc from "fast-check";
import pg from "pg";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { Replica } from "../../gen/pgsync/v1/source_pb.js";
import {
  type Child,
  pgSyncEnv,
  startPgSyncProcess,
  startShapeServerProcess,
  TOKENS,
} from "../../scripts/lib/processes.js";
import { createTestDatabase, type TestDatabase } from "../support/db.js";
import { connectClient, type PgSyncClient } from "../support/stack-fixture.js";

/** Codes a refusal may carry: each names something the caller can act on. */
const CLEAR_CODES = new Set([
  Code.InvalidArgument,
  Code.NotFound,
  Code.PermissionDenied,
  Code.FailedPrecondition,
  Code.ResourceExhausted,
  Code.Unavailable,
]);

let db: TestDatabase;
let sql: pg.Pool;
let shape: { child: Child; url: string };
let server: { child: Child; url: string };
let client: PgSyncClient;

/** What the state database holds, as far as any request could change it. */
async function stateSnapshot(): Promise<string> {
  const { rows } = await sql.query(
    `SELECT (SELECT count(*) FROM pgsync.sources) AS sources,
            (SELECT coalesce(max(registered_at), 'epoch') FROM pgsync.sources) AS registered,
            (SELECT coalesce(max(watched_at), 'epoch') FROM pgsync.sources) AS watched,
            (SELECT count(*) FROM pgsync.cursors) AS cursors`,
  );
  return JSON.stringify(rows[0]);
}

/** Runs a call; on error checks it is clear and that nothing was written. */
async function judged(call: () => Promise<unknown>): Promise<void> {
  const before = await stateSnapshot();
  try {
    await call();
  } catch (err) {
    const e = ConnectError.from(err);
    expect(CLEAR_CODES.has(e.code), `${Code[e.code]}: ${e.rawMessage}`).toBe(true);
    expect(e.rawMessage.length).toBeGreaterThan(0);
    expect(await stateSnapshot()).toBe(before);
  }
}

const TABLES = [
  "items",
  "public.items",
  "ITEMS",
  "pgsync.changes",
  "pgsync.sources",
  '"PgSync".x',
  "pg_catalog.pg_class",
  "missing",
  "",
];

const optionsArb = fc.record(
  {
    url: fc.constantFrom("SHAPE", "http://outside.invalid/v1/shape", "postgres://u@h/db", "not a url"),
    table: fc.oneof(fc.constantFrom(...TABLES), fc.string({ maxLength: 40 })),
    columns: fc.array(fc.oneof(fc.constantFrom("id", "v", "nope"), fc.string({ maxLength: 8 })), {
      maxLength: 3,
    }),
    where: fc.oneof(
      fc.constantFrom("id > 0", "v = $1", "true) OR (true", "id >"),
      fc.string({ maxLength: 30 }),
    ),
    params: fc.array(fc.string({ maxLength: 10 }), { maxLength: 3 }),
    replica: fc.constantFrom<Replica>(0, 1, 2, 7 as Replica),
    metadata: fc.dictionary(fc.string({ minLength: 1, maxLength: 10 }), fc.string({ maxLength: 10 }), {
      maxKeys: 3,
    }),
  },
  { requiredKeys: ["table", "replica"] },
);

const watchArb = fc.record({
  sourceRefs: fc.array(
    fc.oneof(fc.constant("REF"), fc.stringMatching(/^[0-9a-f]{16}$/), fc.string({ maxLength: 20 })),
    {
      maxLength: 4,
    },
  ),
  ops: fc.array(fc.integer({ min: 0, max: 5 }), { maxLength: 4 }),
  debounceMs: fc.nat({ max: 5_000_000 }),
  maxWaitMs: fc.nat({ max: 100_000_000 }),
  maxChangesPerWake: fc.nat({ max: 20_000 }),
  heartbeatIntervalMs: fc.nat({ max: 5_000_000 }),
  token: fc.option(fc.string({ maxLength: 40 }), { nil: undefined }),
});

let knownRef = "";

beforeAll(async () => {
  db = await createTestDatabase("security_fuzz");
  sql = new pg.Pool({ connectionString: db.url, max: 2 });
  await sql.query("CREATE TABLE items (id int PRIMARY KEY, v text)");
  shape = await startShapeServerProcess(db.url, { SHAPE_LONG_POLL_TIMEOUT_MS: "1000" });
  server = await startPgSyncProcess(pgSyncEnv(db.url, shape.url, 0));
  client = connectClient(server.url, TOKENS.a);
  knownRef = (await client.registerSource({ options: { table: "items" } })).sourceRef;
});

afterAll(async () => {
  await server?.child.stop("SIGTERM");
  await shape?.child.stop("SIGTERM");
  await sql?.end();
  await db?.drop();
});

describe("random requests", () => {
  it("should answer every random RegisterSource clearly and write nothing when refusing", async () => {
    await fc.assert(
      fc.asyncProperty(optionsArb, async (o) => {
        const { url, params, ...rest } = o;
        const options = {
          ...rest,
          ...(url === undefined ? {} : { url: url === "SHAPE" ? shape.url : url }),
          ...(params === undefined
            ? {}
            : { params: { case: "positionalParams" as const, value: { values: params } } }),
        };
        await judged(() => client.registerSource({ options }));
      }),
      { numRuns: 60 },
    );
    expect(server.child.process.exitCode).toBeNull();
  });

  it("should answer every random WatchWakes clearly and write nothing when refusing", async () => {
    await fc.assert(
      fc.asyncProperty(watchArb, async (w) => {
        const { token, sourceRefs, ...rest } = w;
        const req = {
          ...rest,
          sourceRefs: sourceRefs.map((r) => (r === "REF" ? knownRef : r)),
          ...(token === undefined ? {} : { start: { case: "resumeToken" as const, value: token } }),
        };
        const aborter = new AbortController();
        await judged(async () => {
          for await (const _ of client.watchWakes(req, { signal: aborter.signal })) {
            aborter.abort();
            return;
          }
        });
      }),
      { numRuns: 60 },
    );
    expect(server.child.process.exitCode).toBeNull();
  });
});
