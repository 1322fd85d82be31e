import { type ChildProcess, spawn } from "node:child_process";
import { once } from "node:events";
import { resolve } from "node:path";
import pg from "pg";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createTestDatabase, type TestDatabase } from "../support/db.js";
import { waitFor } from "../support/wait.js";
import { dropSlots, syncToUpToDate } from "./support/harness.js";

const MAIN = resolve(import.meta.dirname, "../../tools/shape-server/main.ts");
const ROWS = 120_000;
const PAYLOAD_BYTES = 400;
const LONG_POLLS = 2_000;
/** The server runs with this old-space limit: holding the snapshot would exceed it. */
const HEAP_LIMIT_MB = 80;

let db: TestDatabase;
let sql: pg.Pool;
let child: ChildProcess;
let url: string;

/** The server's JS heap in use, in bytes. */
async function heapUsed(): Promise<number> {
  const stats = (await (await fetch(`${url}/v1/test/stats`)).json()) as { memory: { heap_used: number } };
  return stats.memory.heap_used;
}

/** Samples `heapUsed()` every few ms until `stop` resolves; returns the peak. */
async function peakHeapDuring(work: Promise<unknown>): Promise<number> {
  let peak = 0;
  let done = false;
  void work.finally(() => {
    done = true;
  });
  while (!done) {
    peak = Math.max(peak, await heapUsed());
    await new Promise((r) => setImmediate(r));
  }
  await work;
  return peak;
}

async function bodyBuilds(): Promise<number> {
  return ((await (await fetch(`${url}/v1/test/stats`)).json()) as { body_builds: number }).body_builds;
}

beforeAll(async () => {
  db = await createTestDatabase("shape_memory");
  sql = new pg.Pool({ connectionString: db.url, max: 2 });
  await sql.query(`
    CREATE TABLE wide (id int PRIMARY KEY, payload text);
    INSERT INTO wide SELECT g, repeat(md5(g::text), ${Math.ceil(PAYLOAD_BYTES / 32)}) FROM generate_series(1, ${ROWS}) g;
    CREATE TABLE hot (id int PRIMARY KEY);
  `);
  child = spawn(
    process.execPath,
    [
      `--max-old-space-size=${HEAP_LIMIT_MB}`,
      "--import",
      "tsx",
      MAIN,
      "--port",
      "0",
      "--long-poll-timeout-ms",
      "20000",
      "--chunk-bytes",
      String(4 * 1024 * 1024),
      "--test-controls",
    ],
    {
      env: { ...process.env, SHAPE_DATABASE_URL: db.url, SHAPE_LOG_LEVEL: "warn" },
      stdio: ["ignore", "pipe", "inherit"],
    },
  );
  let out = "";
  child.stdout!.on("data", (d) => (out += d));
  url = await waitFor(() => /listening on (http:\/\/\S+)/.exec(out)?.[1], {
    what: "listening",
    timeoutMs: 30_000,
  });
  await waitFor(async () => (await fetch(`${url}/v1/health`)).status === 200, { what: "health" });
});

afterAll(async () => {
  if (child && child.exitCode === null) {
    child.kill("SIGTERM");
    await once(child, "exit");
  }
  await dropSlots(sql);
  await sql.end();
  await db.drop();
});

describe("bounded memory (#32)", () => {
  it("should stream a large snapshot in chunks without holding it in memory", async () => {
    const before = await heapUsed();
    const sync = syncToUpToDate(`${url}/v1/shape`, { table: "wide" });
    const peak = await peakHeapDuring(sync);
    const { changes, responses } = await sync;
    expect(changes).toHaveLength(ROWS);
    const bodyBytes = responses.reduce((n, r) => n + r.text.length, 0);
    expect(bodyBytes).toBeGreaterThan(ROWS * PAYLOAD_BYTES);
    // several chunks of at most ~4 MiB each
    expect(responses.length).toBeGreaterThan(bodyBytes / (4 * 1024 * 1024));
    // the server survived with a heap limit below what holding the snapshot would take, and its
    // heap (uncollected garbage included) stayed well below the snapshot's size
    expect(child.exitCode).toBeNull();
    const growthMiB = (peak - before) / (1024 * 1024);
    expect(growthMiB, `heap grew by ${growthMiB.toFixed(1)} MiB`).toBeLessThan(
      (bodyBytes / (1024 * 1024)) * 0.75,
    );
  });

  it("should hold thousands of long-polls on one shared notification and answer all on one change", async () => {
    const { handle, offset } = await syncToUpToDate(`${url}/v1/shape`, { table: "hot" });
    const before = await heapUsed();
    const aborter = new AbortController();
    const polls = Array.from({ length: LONG_POLLS }, () =>
      fetch(`${url}/v1/shape?table=hot&handle=${handle}&offset=${offset}&live=true`, {
        signal: aborter.signal,
      }).then(async (res) => ({
        status: res.status,
        body: (await res.json()) as Array<{ value?: { id: string } }>,
      })),
    );
    try {
      await waitFor(
        async () => {
          const shapes = (await (await fetch(`${url}/v1/test/shapes`)).json()) as Array<{
            handle: string;
            waiters: number;
          }>;
          return shapes.find((s) => s.handle === handle)?.waiters === LONG_POLLS;
        },
        { what: `${LONG_POLLS} held long-polls`, timeoutMs: 30_000 },
      );
      const held = await heapUsed();
      const buildsBefore = await bodyBuilds();
      await sql.query("INSERT INTO hot VALUES (1)");
      const results = await Promise.all(polls);
      expect(results.every((r) => r.status === 200)).toBe(true);
      expect(results.every((r) => r.body[0]?.value?.id === "1")).toBe(true);
      // one response body was built and shared by all of them
      expect((await bodyBuilds()) - buildsBefore).toBe(1);
      const perRequestKiB = (held - before) / 1024 / LONG_POLLS;
      expect(perRequestKiB, `${perRequestKiB.toFixed(1)} KiB per held request`).toBeLessThan(32);
    } finally {
      aborter.abort();
    }
  });
});
