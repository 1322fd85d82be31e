import { Command } from "commander";
import { SETTINGS, type Setting } from "./settings.js";
import { BUILD_INFO } from "./version.js";

/** One line per setting for `--help`: variable, default, meaning (markdown backticks dropped). */
export function settingsHelp(): string {
  const settings = Object.values(SETTINGS) as Setting[];
  const width = Math.max(...settings.map((s) => s.env.length));
  const lines = settings.map((s) => {
    const fallback =
      s.kind === "text" && s.required ? "(required)" : s.default === undefined ? "" : `[${s.default}]`;
    const text = `${s.description.replaceAll("`", "")}${fallback ? ` ${fallback}` : ""}`;
    return `  ${s.env.padEnd(width)}  ${text}`;
  });
  return [
    "",
    "Configuration (environment variables; README.md has the table with ranges):",
    ...lines,
    "",
    "Tracing also follows the standard OTEL_EXPORTER_OTLP_ENDPOINT, OTEL_EXPORTER_OTLP_TRACES_ENDPOINT,",
    "OTEL_EXPORTER_OTLP_HEADERS and OTEL_SERVICE_NAME. Logs: JSON lines on stdout (docs/operations.md).",
  ].join("\n");
}

/**
 * The `pg-sync` command: `--help` (every setting from the settings table), `--version`, and with
 * no arguments runs the server with `start`, configured by the environment.
 */
export function createProgram(start: () => Promise<void>): Command {
  return new Command("pg-sync")
    .description(
      "Durable, resumable wakes from Postgres row changes, over Connect, gRPC and gRPC-Web.\nConfigured by PGSYNC_* environment variables; runs until SIGTERM or SIGINT.",
    )
    .version(BUILD_INFO.version, "-v, --version", "print the version and exit")
    .helpOption("-h, --help", "print this help, with every setting, and exit")
    .addHelpText("after", settingsHelp())
    .allowExcessArguments(false)
    .action(start);
}
