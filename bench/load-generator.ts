/**
 * Load generator (a separate process) for tables `(id int8, bucket int, payload text, ts float8)`
 * where `ts` defaults to the commit-time clock (see `createBenchTable` in bench/lib/stack.ts).
 *
 * - Bulk (default): inserts `--rows` rows in transactions of `--batch` rows over `--connections`
 *   connections, as fast as Postgres commits them.
 * - Steady (`--rate R`): inserts `--rows` rows as single-row transactions at R rows/s, on a fixed
 *   schedule (rows that fall behind are sent as soon as possible, never dropped).
 *
 * Prints `start <epoch ms>` before the first insert and `done <epoch ms> <rows>` after the last commit.
 */
import { Command } from "commander";
import pg from "pg";

const program = new Command()
  .requiredOption("--url <url>", "database URL")
  .requiredOption("--table <name>", "table (id int8, bucket int, payload text, ts float8)")
  .option("--rows <n>", "rows to insert", Number, 10_000)
  .option("--batch <n>", "rows per transaction (bulk mode)", Number, 100)
  .option("--connections <n>", "concurrent connections", Number, 2)
  .option("--buckets <n>", "values of the bucket column (id % buckets)", Number, 100)
  .option("--rate <n>", "steady mode: single-row transactions per second", Number)
  .parse();
const o = program.opts<{
  url: string;
  table: string;
  rows: number;
  batch: number;
  connections: number;
  buckets: number;
  rate?: number;
}>();

const pool = new pg.Pool({ connectionString: o.url, max: o.connections });

async function bulk(): Promise<void> {
  const sql = `INSERT INTO ${o.table} (id, bucket, payload)
    SELECT g, g % ${o.buckets}, 'payload-' || g FROM generate_series($1::int8, $2::int8) AS g`;
  let next = 1;
  const worker = async (): Promise<void> => {
    const client = await pool.connect();
    try {
      while (next <= o.rows) {
        const from = next;
        const to = Math.min(o.rows, from + o.batch - 1);
        next = to + 1;
        await client.query(sql, [from, to]);
      }
    } finally {
      client.release();
    }
  };
  await Promise.all(Array.from({ length: o.connections }, () => worker()));
}

async function steady(rate: number): Promise<void> {
  const sql = `INSERT INTO ${o.table} (id, bucket, payload) VALUES ($1, $2, $3)`;
  const begin = performance.now();
  const inFlight = new Set<Promise<unknown>>();
  let sent = 0;
  while (sent < o.rows) {
    const due = Math.min(o.rows, Math.floor(((performance.now() - begin) * rate) / 1000) + 1);
    for (; sent < due; sent++) {
      const id = sent + 1;
      const p = pool.query(sql, [id, id % o.buckets, `payload-${id}`]).finally(() => inFlight.delete(p));
      inFlight.add(p);
    }
    const nextAt = begin + (sent * 1000) / rate;
    await new Promise((r) => setTimeout(r, Math.max(0, nextAt - performance.now())));
  }
  await Promise.all(inFlight);
}

await pool.query("SELECT 1");
console.log(`start ${Date.now()}`);
if (o.rate) await steady(o.rate);
else await bulk();
console.log(`done ${Date.now()} ${o.rows}`);
await pool.end();
