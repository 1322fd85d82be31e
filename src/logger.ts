import { type Logger, pino } from "pino";
import type { LogLevel } from "./config.js";

/** Log field names, one vocabulary across components. */
export const LOG_FIELDS = {
  component: "component",
  tenant: "tenant",
  sourceRef: "source_ref",
  shapeHandle: "shape_handle",
  shapeOffset: "shape_offset",
  rpcMethod: "rpc_method",
  code: "code",
  durationMs: "duration_ms",
  requestId: "request_id",
  /** ErrorInfo reason of a failed call (`SOURCE_NOT_FOUND`). */
  reason: "reason",
  /** OpenTelemetry trace id, when tracing is on. */
  traceId: "trace_id",
} as const;

/** Paths pino replaces with "[redacted]": secrets never reach logs. */
const REDACT_PATHS = [
  "authorization",
  "*.authorization",
  "headers.authorization",
  "token",
  "*.token",
  "password",
  "*.password",
  "databaseUrl",
  "*.databaseUrl",
  "jwtSecret",
  "*.jwtSecret",
];

/** Creates the process logger: JSON lines on stdout (or `destination`). */
export function createLogger(level: LogLevel, destination?: pino.DestinationStream): Logger {
  return pino(
    {
      level,
      base: { service: "pg-sync" },
      redact: { paths: REDACT_PATHS, censor: "[redacted]" },
      timestamp: pino.stdTimeFunctions.isoTime,
      formatters: { level: (label) => ({ level: label }) },
    },
    destination,
  );
}

/** Removes credentials from a URL so it can be logged or returned. */
export function scrubUrl(raw: string): string {
  try {
    const url = new URL(raw);
    if (url.password) url.password = "***";
    for (const key of [...url.searchParams.keys()]) {
      if (/secret|token|password|key/i.test(key)) url.searchParams.set(key, "***");
    }
    return url.toString();
  } catch {
    return "<invalid url>";
  }
}

export type { Logger };
