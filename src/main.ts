import { pathToFileURL } from "node:url";
import { createProgram } from "./cli.js";
import { type Config, ConfigError, loadConfig } from "./config.js";
import { createLogger, type Logger } from "./logger.js";
import { createServer } from "./server.js";
import { configSummary, StartupError, unknownVariables } from "./startup.js";
import { startTracing } from "./tracing.js";
import { BUILD_INFO } from "./version.js";

/** Logs what starts: version, the effective configuration (secrets masked), unknown variables. */
function logStart(logger: Logger, env: NodeJS.ProcessEnv, config: Config): void {
  logger.info(
    { version: BUILD_INFO.version, node_version: BUILD_INFO.nodeVersion, config: configSummary(env, config) },
    "pg-sync starting",
  );
  for (const { name, didYouMean } of unknownVariables(env)) {
    const hint = didYouMean ? `; did you mean ${didYouMean}?` : "";
    logger.warn({ variable: name, did_you_mean: didYouMean }, `unknown setting ${name} is ignored${hint}`);
  }
}

/**
 * Starts pg-sync from the environment; exits 1 with one clear line on a bad configuration or a
 * failed start-up step (naming its component: state database, policy file, listener, …).
 */
export async function main(env: NodeJS.ProcessEnv = process.env): Promise<void> {
  let config: Config;
  try {
    config = loadConfig(env);
  } catch (err) {
    if (err instanceof ConfigError) {
      console.error(`pg-sync: configuration error: ${err.message}`);
      process.exit(1);
    }
    throw err;
  }
  const logger = createLogger(config.logLevel);
  logStart(logger, env, config);
  const tracing = await startTracing(config, logger);
  let server: Awaited<ReturnType<typeof createServer>>;
  try {
    server = await createServer(config, logger);
  } catch (err) {
    await tracing.stop();
    throw err;
  }
  let stopping = false;
  const stop = (signal: string) => {
    if (stopping) return;
    stopping = true;
    logger.info({ signal }, "shutting down");
    server
      .close()
      .then(() => tracing.stop())
      .then(() => process.exit(0))
      .catch((err: unknown) => {
        logger.error({ err }, "shutdown failed");
        process.exit(1);
      });
  };
  process.on("SIGTERM", () => stop("SIGTERM"));
  process.on("SIGINT", () => stop("SIGINT"));
  await server.listen();
}

/** Runs the `pg-sync` command (`--help`, `--version`, or the server); exits 1 when start-up fails. */
export function runCommand(argv: readonly string[] = process.argv): void {
  createProgram(() => main())
    .parseAsync([...argv])
    .catch((err: unknown) => {
      // A StartupError's message starts with its component: "state database: connect ECONNREFUSED …".
      const message = err instanceof Error ? err.message : String(err);
      const unnamed = err instanceof StartupError ? "" : "pg-sync (unexpected): ";
      console.error(`pg-sync: failed to start: ${unnamed}${message}`);
      process.exit(1);
    });
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? "").href) runCommand();
