/**
 * The pg-sync tour: an embedded Postgres (data under .data/, or PGSYNC_DEMO_DIR), the bundled
 * shape server and pg-sync start; a `todos` table is created; a source is registered with the
 * TypeScript runtime client; a watcher prints each wake as the demo inserts, updates and deletes
 * rows; then it prints commands to try against the still-running server. Ctrl-C stops everything.
 */
import { execFileSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import { createServer } from "node:net";
import { join } from "node:path";
import { createPgSyncClient, Operation, type WakeEvent } from "@pg-sync/runtime";
import pg from "pg";
import { type Child, ROOT, startPgSyncProcess, startShapeServerProcess } from "./lib/processes.js";

const DATA_DIR = process.env.PGSYNC_DEMO_DIR ?? join(ROOT, ".data");
const PG_DIR = join(DATA_DIR, "pg");
const PREFERRED_PGSYNC_PORT = Number(process.env.PGSYNC_DEMO_PORT ?? 50051);
const PREFERRED_SHAPE_PORT = Number(process.env.PGSYNC_DEMO_SHAPE_PORT ?? 3000);
const OP_NAMES: Record<number, string> = {
  [Operation.INSERT]: "insert",
  [Operation.UPDATE]: "update",
  [Operation.DELETE]: "delete",
};

const say = (line = ""): void => {
  process.stdout.write(`${line}\n`);
};
const step = (line: string) => say(`\n\u001b[1m▸ ${line}\u001b[0m`);

function portFree(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = createServer();
    s.once("error", () => resolve(false));
    s.listen(port, "127.0.0.1", () => s.close(() => resolve(true)));
  });
}

async function pickPort(preferred: number): Promise<number> {
  return preferred > 0 && (await portFree(preferred)) ? preferred : 0;
}

function printWake(e: WakeEvent): void {
  if (e.type === "ready") {
    say("  watcher ready: live from here on");
    return;
  }
  if (e.type === "gap") {
    say(`  GAP (${e.gap.detail})`);
    return;
  }
  if (e.type === "status") {
    say(`  source ${e.status.sourceRef}: ${e.status.reason}`);
    return;
  }
  for (const c of e.wake.changes) {
    say(
      `  wake ${e.wake.wakeId}: ${OP_NAMES[c.operation] ?? "?"} ${c.table} ${c.key} ${JSON.stringify(c.value)}`,
    );
  }
}

async function main(): Promise<void> {
  const children: Child[] = [];
  let stopping = false;
  const stop = async (code: number) => {
    if (stopping) return;
    stopping = true;
    say("\nstopping…");
    for (const child of children.reverse()) await child.stop("SIGTERM");
    execFileSync("bash", [join(ROOT, "scripts/pg.sh"), "stop", PG_DIR], { stdio: "inherit" });
    say("stopped.");
    process.exit(code);
  };
  process.on("SIGINT", () => void stop(0));
  process.on("SIGTERM", () => void stop(0));

  step(`Postgres (data in ${PG_DIR})`);
  const adminUrl = execFileSync("bash", [join(ROOT, "scripts/pg.sh"), "start", PG_DIR], {
    encoding: "utf8",
  }).trim();
  const admin = new pg.Client({ connectionString: adminUrl });
  await admin.connect();
  const exists = await admin.query("SELECT 1 FROM pg_database WHERE datname = 'demo'");
  if (exists.rowCount === 0) await admin.query("CREATE DATABASE demo");
  await admin.end();
  const dbUrl = adminUrl.replace(/\/postgres$/, "/demo");
  say(`  ${dbUrl}`);

  step("shape server (Electric HTTP protocol over logical replication)");
  const shape = await startShapeServerProcess(dbUrl, {
    SHAPE_PORT: String(await pickPort(PREFERRED_SHAPE_PORT)),
    SHAPE_TEST_CONTROLS: "0",
  });
  children.push(shape.child);
  say(`  ${shape.url}`);

  step("pg-sync");
  const token = `demo-${randomBytes(6).toString("hex")}`;
  const pgsync = await startPgSyncProcess({
    PGSYNC_DATABASE_URL: dbUrl,
    PGSYNC_LISTEN: `127.0.0.1:${await pickPort(PREFERRED_PGSYNC_PORT)}`,
    PGSYNC_ELECTRIC_URL: shape.url,
    PGSYNC_AUTH_TOKENS: `${token}=demo`,
    PGSYNC_LOG_LEVEL: "info", // captured, not shown; startPgSyncProcess waits for the listening line
  });
  children.push(pgsync.child);
  say(`  ${pgsync.url} (token ${token})`);

  step("a todos table");
  const sql = new pg.Pool({ connectionString: dbUrl, max: 2 });
  await sql.query(
    "CREATE TABLE IF NOT EXISTS todos (id serial PRIMARY KEY, title text NOT NULL, done boolean NOT NULL DEFAULT false)",
  );

  step("RegisterSource with the TypeScript runtime client");
  const client = createPgSyncClient({ baseUrl: pgsync.url, token });
  const { sourceRef, created } = await client.registerSource({ table: "todos", replica: "full" });
  say(`  source_ref ${sourceRef} (${created ? "created" : "already registered"})`);

  step("WatchWakes: each wake as it arrives");
  const ready = new Promise<void>((resolve) => {
    void (async () => {
      for await (const e of client.watchWakes({ sourceRefs: [sourceRef] })) {
        printWake(e);
        if (e.type === "ready") resolve();
      }
    })().catch((err: unknown) => say(`  watcher stopped: ${(err as Error).message}`));
  });
  await ready;

  const pause = () => new Promise((r) => setTimeout(r, 400));
  const { rows } = await sql.query<{ id: number }>(
    "INSERT INTO todos (title) VALUES ('buy milk'), ('write docs'), ('ship pg-sync') RETURNING id",
  );
  await pause();
  await sql.query("UPDATE todos SET done = true WHERE id = $1", [rows[0]?.id]);
  await pause();
  await sql.query("DELETE FROM todos WHERE id = $1", [rows[1]?.id]);
  await pause();
  await sql.end();

  step("try it yourself while this runs (Ctrl-C stops everything)");
  const host = new URL(pgsync.url).host;
  const auth = `-H 'authorization: Bearer ${token}'`;
  say("  # grpcurl (once: bash scripts/tools.sh grpcurl installs it into .tools/go/bin)");
  say(`  .tools/go/bin/grpcurl -plaintext ${host} list`);
  say(
    `  .tools/go/bin/grpcurl -plaintext ${auth} -d '{"source_ref":"${sourceRef}"}' ${host} pgsync.v1.PgSyncService/GetCursor`,
  );
  say(
    `  .tools/go/bin/grpcurl -plaintext ${auth} -d '{"source_refs":["${sourceRef}"]}' ${host} pgsync.v1.PgSyncService/WatchWakes`,
  );
  say("  # write a row and watch the wake arrive above");
  say(`  psql '${dbUrl}' -c "INSERT INTO todos (title) VALUES ('from psql')"`);
  say(
    "  # Python (once: python3 -m venv clients/python/.venv && clients/python/.venv/bin/pip install -e clients/python)",
  );
  say(
    `  PGSYNC_URL=${pgsync.url} PGSYNC_TOKEN=${token} clients/python/.venv/bin/python clients/python/examples/watch_wakes.py ${sourceRef}`,
  );
  say("  # Go");
  say(
    `  (cd clients/go/pgsync && PGSYNC_URL=${pgsync.url} PGSYNC_TOKEN=${token} go run ./cmd/pgsync-watch ${sourceRef})`,
  );
  await new Promise(() => {});
}

main().catch((err: unknown) => {
  console.error(`demo failed: ${err instanceof Error ? err.message : String(err)}`);
  process.exit(1);
});
