/**
 * CLI entry of the shape server: `npm run shape-server -- [options]` or
 * `node --import tsx tools/shape-server/main.ts [options]`. Prints
 * `listening on http://127.0.0.1:PORT` on stdout once it listens and exits cleanly on SIGTERM/SIGINT.
 */
import { realpathSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { Command, InvalidArgumentError } from "commander";
import { pino } from "pino";
import {
  DEFAULT_CHUNK_BYTES_THRESHOLD,
  DEFAULT_LONG_POLL_TIMEOUT_MS,
  DEFAULT_PORT,
  DEFAULT_PUBLICATION,
  DEFAULT_SSE_KEEPALIVE_MS,
  DEFAULT_SSE_TIMEOUT_MS,
  DEFAULT_STATEMENT_TIMEOUT_MS,
  DEFAULT_STORAGE_SCHEMA,
  ENV,
} from "./constants.js";
import { type ShapeServerOptions, startShapeServer } from "./server.js";

function nonNegativeInt(value: string): number {
  const n = Number(value);
  if (!Number.isSafeInteger(n) || n < 0)
    throw new InvalidArgumentError(`not a non-negative integer: ${value}`);
  return n;
}

function envFlag(value: string | undefined): boolean {
  return value !== undefined && /^(1|true|yes|on)$/i.test(value);
}

/** Parses the command line and environment into server options and a log level. */
export function parseCli(
  argv: readonly string[],
  env: NodeJS.ProcessEnv,
): ShapeServerOptions & { logLevel: string } {
  const program = new Command()
    .name("shape-server")
    .description(
      "ElectricSQL HTTP shape API over Postgres logical replication (a test and benchmark fixture).",
    )
    .option("--database-url <url>", `Postgres URL (env ${ENV.databaseUrl})`, env[ENV.databaseUrl])
    .option(
      "--port <port>",
      `TCP port, 0 for any free port (env ${ENV.port})`,
      nonNegativeInt,
      env[ENV.port] ? nonNegativeInt(env[ENV.port]!) : DEFAULT_PORT,
    )
    .option("--host <host>", "listening address", "127.0.0.1")
    .option(
      "--long-poll-timeout-ms <ms>",
      `how long live requests are held (env ${ENV.longPollTimeoutMs})`,
      nonNegativeInt,
      env[ENV.longPollTimeoutMs] ? nonNegativeInt(env[ENV.longPollTimeoutMs]!) : DEFAULT_LONG_POLL_TIMEOUT_MS,
    )
    .option(
      "--test-controls",
      `enable DELETE /v1/shape and the /v1/test/* fault controls (env ${ENV.testControls}=1)`,
      envFlag(env[ENV.testControls]),
    )
    .option(
      "--chunk-bytes <bytes>",
      "bytes per snapshot/log chunk",
      nonNegativeInt,
      DEFAULT_CHUNK_BYTES_THRESHOLD,
    )
    .option("--sse-keepalive-ms <ms>", "SSE keep-alive interval", nonNegativeInt, DEFAULT_SSE_KEEPALIVE_MS)
    .option("--sse-timeout-ms <ms>", "SSE connection lifetime", nonNegativeInt, DEFAULT_SSE_TIMEOUT_MS)
    .option("--slot-name <name>", "replication slot (default electric_shapes_<database>)")
    .option("--publication <name>", "publication name", DEFAULT_PUBLICATION)
    .option("--storage-schema <name>", "schema of the server's own tables", DEFAULT_STORAGE_SCHEMA)
    .option(
      "--statement-timeout-ms <ms>",
      `statement_timeout of the sessions that run where clauses, 0 for none (env ${ENV.statementTimeoutMs})`,
      nonNegativeInt,
      env[ENV.statementTimeoutMs]
        ? nonNegativeInt(env[ENV.statementTimeoutMs]!)
        : DEFAULT_STATEMENT_TIMEOUT_MS,
    )
    .option(
      "--query-role <role>",
      `role the sessions that run where clauses switch to; SELECT-only (env ${ENV.queryRole})`,
      env[ENV.queryRole],
    )
    .option(
      "--log-level <level>",
      `pino level, logs go to stderr (env ${ENV.logLevel})`,
      env[ENV.logLevel] ?? "info",
    )
    .showHelpAfterError();
  program.parse([...argv], { from: "node" });
  const o = program.opts<{
    databaseUrl?: string;
    port: number;
    host: string;
    longPollTimeoutMs: number;
    testControls: boolean;
    chunkBytes: number;
    sseKeepaliveMs: number;
    sseTimeoutMs: number;
    slotName?: string;
    publication: string;
    storageSchema: string;
    statementTimeoutMs: number;
    queryRole?: string;
    logLevel: string;
  }>();
  if (!o.databaseUrl) program.error(`--database-url or ${ENV.databaseUrl} is required`);
  return {
    databaseUrl: o.databaseUrl!,
    port: o.port,
    host: o.host,
    longPollTimeoutMs: o.longPollTimeoutMs,
    testControls: o.testControls,
    chunkBytesThreshold: o.chunkBytes,
    sseKeepaliveMs: o.sseKeepaliveMs,
    sseTimeoutMs: o.sseTimeoutMs,
    ...(o.slotName ? { slotName: o.slotName } : {}),
    publicationName: o.publication,
    storageSchema: o.storageSchema,
    statementTimeoutMs: o.statementTimeoutMs,
    ...(o.queryRole ? { queryRole: o.queryRole } : {}),
    logLevel: o.logLevel,
  };
}

async function main(): Promise<void> {
  const { logLevel, ...options } = parseCli(process.argv, process.env);
  const logger = pino({ level: logLevel, base: { service: "shape-server" } }, pino.destination(2));
  const server = await startShapeServer({ ...options, logger });
  console.log(`listening on ${server.url}`);
  let stopping = false;
  const stop = (signal: string): void => {
    if (stopping) return;
    stopping = true;
    logger.info({ signal }, "shutting down");
    server.close().then(
      () => process.exit(0),
      (err: unknown) => {
        logger.error({ err }, "shutdown failed");
        process.exit(1);
      },
    );
  };
  process.on("SIGTERM", () => stop("SIGTERM"));
  process.on("SIGINT", () => stop("SIGINT"));
}

const entry = process.argv[1] ? realpathSync(process.argv[1]) : "";
if (entry === fileURLToPath(import.meta.url)) {
  main().catch((err: unknown) => {
    console.error(err instanceof Error ? (err.stack ?? err.message) : err);
    process.exit(1);
  });
}
