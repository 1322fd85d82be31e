import type { Client } from "@connectrpc/connect";
import { Code, ConnectError } from "@connectrpc/connect";
import type { PgSyncService, WatchWakesResponse } from "../gen/pgsync/v1/pg_sync_service_pb.js";
import {
  type Gap,
  Operation,
  type Ready,
  type SourceStatus,
  StartPosition,
  type Wake,
} from "../gen/pgsync/v1/wake_pb.js";

/** Operations by name. */
export type OperationName = "insert" | "update" | "delete";

const OPERATION_BY_NAME: Record<OperationName, Operation> = {
  insert: Operation.INSERT,
  update: Operation.UPDATE,
  delete: Operation.DELETE,
};

/** Options of {@link watchWakes}. */
export interface WatchWakesOptions {
  /** Sources to watch. */
  readonly sourceRefs: readonly string[];
  /** Operations that wake; default all. */
  readonly ops?: readonly OperationName[];
  /** Trailing debounce in ms; 0 (default) = one wake per change. */
  readonly debounceMs?: number;
  /** Longest a change may be held by debounce, in ms. */
  readonly maxWaitMs?: number;
  /** Largest wake. */
  readonly maxChangesPerWake?: number;
  /** Heartbeat interval in ms (server default 15 s). */
  readonly heartbeatIntervalMs?: number;
  /**
   * Where to start: `"now"` (default), `"earliest"`, `"snapshot"` (the current rows as snapshot
   * changes, then every change after them), or a resume token.
   */
  readonly start?: "now" | "earliest" | "snapshot" | { readonly resumeToken: string };
  /** After each gap, deliver a fresh snapshot of the source (the Gap has `rebuild` set). Default false. */
  readonly rebuildAfterGap?: boolean;
  /** Stops the iteration. */
  readonly signal?: AbortSignal;
  /** First reconnect delay cap in ms (full jitter). Default 200. */
  readonly reconnectInitialDelayMs?: number;
  /** Largest reconnect delay in ms. Default 10_000. */
  readonly reconnectMaxDelayMs?: number;
  /** Called before each reconnect, with the error that ended the stream. */
  readonly onReconnect?: (error: ConnectError, attempt: number, delayMs: number) => void;
}

/** What the iterator yields. Heartbeats only move the resume token and are not yielded. */
export type WakeEvent =
  | { readonly type: "wake"; readonly wake: Wake }
  | { readonly type: "ready"; readonly ready: Ready }
  | { readonly type: "gap"; readonly gap: Gap }
  | { readonly type: "status"; readonly status: SourceStatus };

/** Codes after which the stream is resumed from the last token. */
const RETRYABLE: ReadonlySet<Code> = new Set([
  Code.Unavailable,
  Code.ResourceExhausted,
  Code.Unknown,
  Code.Internal,
  Code.Aborted,
]);
/** Wake ids remembered to drop re-deliveries. */
const SEEN_WAKE_IDS_MAX = 10_000;

function tokenOf(frame: WatchWakesResponse): string | undefined {
  const e = frame.event;
  switch (e.case) {
    case "wake":
    case "ready":
    case "gap":
    case "heartbeat":
    case "status":
      return e.value.resumeToken || undefined;
    default:
      return undefined;
  }
}

function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal?.aborted) return resolve();
    const done = () => {
      clearTimeout(timer);
      signal?.removeEventListener("abort", done);
      resolve();
    };
    const timer = setTimeout(done, ms);
    signal?.addEventListener("abort", done, { once: true });
  });
}

/**
 * WatchWakes as an async iterable that survives disconnects: on UNAVAILABLE (server restart or
 * shutdown), RESOURCE_EXHAUSTED (fell behind) or a broken connection it waits (full-jitter
 * exponential backoff) and resumes from the last token it saw, so nothing is lost; re-delivered
 * wake ids are dropped, so no wake is yielded twice. NOT_FOUND, INVALID_ARGUMENT,
 * UNAUTHENTICATED and other definite errors end the iteration by throwing.
 */
export async function* watchWakes(
  client: Client<typeof PgSyncService>,
  options: WatchWakesOptions,
): AsyncGenerator<WakeEvent> {
  const initial = options.reconnectInitialDelayMs ?? 200;
  const max = options.reconnectMaxDelayMs ?? 10_000;
  const seen = new Set<string>();
  let token = typeof options.start === "object" ? options.start.resumeToken : undefined;
  let attempt = 0;
  while (!options.signal?.aborted) {
    const start = token
      ? { case: "resumeToken" as const, value: token }
      : {
          case: "startPosition" as const,
          value:
            options.start === "earliest"
              ? StartPosition.EARLIEST
              : options.start === "snapshot"
                ? StartPosition.SNAPSHOT
                : StartPosition.NOW,
        };
    try {
      const stream = client.watchWakes(
        {
          sourceRefs: [...options.sourceRefs],
          ops: (options.ops ?? []).map((op) => OPERATION_BY_NAME[op]),
          debounceMs: options.debounceMs ?? 0,
          maxWaitMs: options.maxWaitMs ?? 0,
          maxChangesPerWake: options.maxChangesPerWake ?? 0,
          heartbeatIntervalMs: options.heartbeatIntervalMs ?? 0,
          rebuildAfterGap: options.rebuildAfterGap ?? false,
          start,
        },
        { signal: options.signal },
      );
      for await (const frame of stream) {
        attempt = 0;
        token = tokenOf(frame) ?? token;
        const e = frame.event;
        if (e.case === "wake") {
          if (seen.has(e.value.wakeId)) continue;
          seen.add(e.value.wakeId);
          if (seen.size > SEEN_WAKE_IDS_MAX) seen.delete(seen.values().next().value as string);
          yield { type: "wake", wake: e.value };
        } else if (e.case === "ready") yield { type: "ready", ready: e.value };
        else if (e.case === "gap") yield { type: "gap", gap: e.value };
        else if (e.case === "status") yield { type: "status", status: e.value };
      }
      return; // the server ended the stream normally (every watched source was deleted)
    } catch (err) {
      if (options.signal?.aborted) return;
      const error = ConnectError.from(err);
      if (!RETRYABLE.has(error.code)) throw error;
      token = error.metadata.get("pgsync-resume-token") ?? token;
      const delay = Math.floor(Math.random() * Math.min(max, initial * 2 ** Math.min(attempt, 20)));
      attempt++;
      options.onReconnect?.(error, attempt, delay);
      await sleep(delay, options.signal);
    }
  }
}
