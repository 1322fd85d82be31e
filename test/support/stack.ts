/**
 * A whole test stack for the Python and Go client suites: a fresh database on the run's cluster
 * (PGSYNC_TEST_PG_URL), the shape server and pg-sync as child processes. Prints one JSON line
 * `{"pgsyncUrl","tokenA","tokenB","databaseUrl","controlUrl","shapeUrl"}` and stays up until
 * SIGTERM/SIGINT. `POST {controlUrl}/restart` restarts pg-sync on the same port (200 once it
 * listens again), so clients can test resuming across a server restart.
 */
import { randomBytes } from "node:crypto";
import { createServer } from "node:http";
import pg from "pg";
import {
  type Child,
  pgSyncEnv,
  startPgSyncProcess,
  startShapeServerProcess,
  TOKENS,
} from "../../scripts/lib/processes.js";

async function main(): Promise<void> {
  const admin = process.env.PGSYNC_TEST_PG_URL;
  if (!admin) throw new Error("PGSYNC_TEST_PG_URL is required");
  const name = `stack_${randomBytes(4).toString("hex")}`;
  const client = new pg.Client({ connectionString: admin });
  await client.connect();
  await client.query(`CREATE DATABASE "${name}"`);
  await client.end();
  const url = new URL(admin);
  url.pathname = `/${name}`;
  const databaseUrl = url.toString();

  const shape = await startShapeServerProcess(databaseUrl, { SHAPE_LONG_POLL_TIMEOUT_MS: "2000" });
  let pgsync = await startPgSyncProcess(pgSyncEnv(databaseUrl, shape.url));
  const port = new URL(pgsync.url).port;

  const control = createServer((req, res) => {
    if (req.method === "POST" && req.url === "/restart") {
      const old: Child = pgsync.child;
      old
        .stop("SIGTERM")
        .then(() => startPgSyncProcess(pgSyncEnv(databaseUrl, shape.url, Number(port))))
        .then((next) => {
          pgsync = next;
          res.writeHead(200).end("restarted");
        })
        .catch((err: unknown) => res.writeHead(500).end(String(err)));
      return;
    }
    res.writeHead(404).end();
  });
  await new Promise<void>((r) => control.listen(0, "127.0.0.1", r));
  const address = control.address();
  const controlPort = typeof address === "object" && address ? address.port : 0;

  console.log(
    JSON.stringify({
      pgsyncUrl: pgsync.url,
      tokenA: TOKENS.a,
      tokenB: TOKENS.b,
      databaseUrl,
      shapeUrl: shape.url,
      controlUrl: `http://127.0.0.1:${controlPort}`,
    }),
  );

  const shutdown = async () => {
    control.close();
    await pgsync.child.stop("SIGTERM");
    await shape.child.stop("SIGTERM");
    const c = new pg.Client({ connectionString: admin });
    await c.connect();
    await c.query(`DROP DATABASE IF EXISTS "${name}" WITH (FORCE)`).catch(() => {});
    await c.end();
    process.exit(0);
  };
  process.on("SIGTERM", () => void shutdown());
  process.on("SIGINT", () => void shutdown());
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
