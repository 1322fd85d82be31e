import { Code, ConnectError } from "@connectrpc/connect";
import type { WatchWakesRequest } from "../gen/pgsync/v1/pg_sync_service_pb.js";
import { Operation, StartPosition } from "../gen/pgsync/v1/wake_pb.js";

/** Operations by name. */
export type OperationName = "insert" | "update" | "delete";

const OPERATION_BY_NAME: Readonly<Record<string, Operation>> = {
  insert: Operation.INSERT,
  update: Operation.UPDATE,
  delete: Operation.DELETE,
};

/** Largest value of the request's uint32 fields. */
const UINT32_MAX = 4_294_967_295;

/** The request fields of {@link WatchWakesOptions} (see `watch.ts`). */
export interface WatchRequestOptions {
  /** Sources to watch. */
  readonly sourceRefs: readonly string[];
  /** Operations that wake; default all. */
  readonly ops?: readonly OperationName[] | undefined;
  /** Trailing debounce in ms; 0 (default) = one wake per change. */
  readonly debounceMs?: number | undefined;
  /** Longest a change may be held by debounce, in ms; 0 (default) = no bound. */
  readonly maxWaitMs?: number | undefined;
  /** Largest wake; 0 (default) = the server's default. */
  readonly maxChangesPerWake?: number | undefined;
  /** Heartbeat interval in ms; 0 (default) = the server's default (15 s). */
  readonly heartbeatIntervalMs?: number | undefined;
  /**
   * Where to start: `"now"` (default), `"earliest"`, `"snapshot"` (the current rows as snapshot
   * changes, then every change after them), or a resume token.
   */
  readonly start?: "now" | "earliest" | "snapshot" | { readonly resumeToken: string } | undefined;
  /** After each gap, deliver a fresh snapshot of the source (the Gap has `rebuild` set). Default false. */
  readonly rebuildAfterGap?: boolean | undefined;
}

/** The request without its start, which changes on every reconnect. */
export type WatchRequestBody = Omit<WatchWakesRequest, "start" | "$typeName" | "$unknown">;

function invalid(argument: string, problem: string): ConnectError {
  return new ConnectError(`watchWakes: ${argument} ${problem}`, Code.InvalidArgument);
}

function uint32(argument: string, value: number | undefined): number {
  if (value === undefined) return 0;
  if (typeof value !== "number" || !Number.isInteger(value) || value < 0 || value > UINT32_MAX) {
    throw invalid(argument, `must be an integer from 0 to ${UINT32_MAX}, got ${String(value)}`);
  }
  return value;
}

/**
 * Checks the caller's watch options locally, before any call, and returns the request body; a
 * bad option throws `ConnectError` with `Code.InvalidArgument` naming it (`ops[0]`, `debounceMs`).
 */
export function watchRequestBody(options: WatchRequestOptions): WatchRequestBody {
  const refs = options.sourceRefs;
  if (!Array.isArray(refs) || refs.length === 0) throw invalid("sourceRefs", "must name at least one source");
  refs.forEach((ref, i) => {
    if (typeof ref !== "string" || ref === "")
      throw invalid(`sourceRefs[${i}]`, "must be a non-empty string");
  });
  const ops = (options.ops ?? []).map((name, i) => {
    const op = typeof name === "string" ? OPERATION_BY_NAME[name] : undefined;
    if (op === undefined)
      throw invalid(`ops[${i}]`, `must be insert, update or delete, got ${JSON.stringify(name)}`);
    return op;
  });
  const start = options.start;
  if (start !== undefined && start !== "now" && start !== "earliest" && start !== "snapshot") {
    if (typeof start !== "object" || typeof start.resumeToken !== "string" || start.resumeToken === "") {
      throw invalid(
        "start",
        `must be "now", "earliest", "snapshot" or { resumeToken }, got ${JSON.stringify(start)}`,
      );
    }
  }
  return {
    sourceRefs: [...refs],
    ops,
    debounceMs: uint32("debounceMs", options.debounceMs),
    maxWaitMs: uint32("maxWaitMs", options.maxWaitMs),
    maxChangesPerWake: uint32("maxChangesPerWake", options.maxChangesPerWake),
    heartbeatIntervalMs: uint32("heartbeatIntervalMs", options.heartbeatIntervalMs),
    rebuildAfterGap: options.rebuildAfterGap === true,
  };
}

/** The request's start: the resume token when there is one, else the caller's start position. */
export function startOf(
  token: string | undefined,
  start: WatchRequestOptions["start"],
): WatchWakesRequest["start"] {
  if (token) return { case: "resumeToken", value: token };
  return {
    case: "startPosition",
    value:
      start === "earliest"
        ? StartPosition.EARLIEST
        : start === "snapshot"
          ? StartPosition.SNAPSHOT
          : StartPosition.NOW,
  };
}
