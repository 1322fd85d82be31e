/**
 * Baseline consumer (a separate process): a bare `pg-logical-replication` pgoutput subscriber on its
 * own slot and publication, counting inserts into `--table`. Prints `ready` once streaming and
 * `done <epoch ms> <count>` when it has seen `--rows` inserts.
 */
import { Command } from "commander";
import pg from "pg";
import { LogicalReplicationService, type Pgoutput, PgoutputPlugin } from "pg-logical-replication";

const program = new Command()
  .requiredOption("--url <url>", "database URL")
  .requiredOption("--table <name>", "table to count")
  .requiredOption("--rows <n>", "inserts to wait for", Number)
  .parse();
const o = program.opts<{ url: string; table: string; rows: number }>();

const slot = `bench_raw_${process.pid}`;
const publication = `bench_raw_pub_${process.pid}`;
const admin = new pg.Client({ connectionString: o.url });
await admin.connect();
await admin.query(`CREATE PUBLICATION ${publication} FOR TABLE ${o.table}`);
await admin.query("SELECT pg_create_logical_replication_slot($1, 'pgoutput')", [slot]);

const service = new LogicalReplicationService(
  { connectionString: o.url },
  { acknowledge: { auto: false, timeoutSeconds: 1 } },
);
let count = 0;
let finished = false;
service.on("start", () => console.log("ready"));
service.on("data", (_lsn: string, message: Pgoutput.Message) => {
  if (message.tag !== "insert" || finished) return;
  count++;
  if (count >= o.rows) {
    finished = true;
    console.log(`done ${Date.now()} ${count}`);
    void shutdown();
  }
});
service.on("error", () => {});

async function shutdown(): Promise<void> {
  await service.stop().catch(() => {});
  await admin.query("SELECT pg_drop_replication_slot($1)", [slot]).catch(() => {});
  await admin.query(`DROP PUBLICATION IF EXISTS ${publication}`).catch(() => {});
  await admin.end();
  process.exit(0);
}
process.on("SIGTERM", () => void shutdown());
void service
  .subscribe(new PgoutputPlugin({ protoVersion: 1, publicationNames: [publication] }), slot)
  .catch(() => {});
