import type { Client } from "@connectrpc/connect";
import { Code, ConnectError } from "@connectrpc/connect";
import type { PgSyncService, WatchWakesResponse } from "../gen/pgsync/v1/pg_sync_service_pb.js";
import { type Gap, GapReason, type Ready, type SourceStatus, type Wake } from "../gen/pgsync/v1/wake_pb.js";
import { callSignal } from "./call-signal.js";
import {
  startOf,
  type WatchRequestBody,
  type WatchRequestOptions,
  watchRequestBody,
} from "./watch-request.js";
import {
  DEFAULT_RECONNECT_INITIAL_DELAY_MS,
  DEFAULT_RECONNECT_MAX_DELAY_MS,
  RESUME_TOKEN_TRAILER,
  reconnectDelayCapMs,
  SeenWakes,
  shouldReconnect,
  sleep,
  tokenOf,
} from "./watch-resume.js";

export type { OperationName } from "./watch-request.js";

/** Options of {@link watchWakes}. */
export interface WatchWakesOptions extends WatchRequestOptions {
  /** Stops the iteration. */
  readonly signal?: AbortSignal | undefined;
  /** First reconnect delay cap in ms (full jitter). Default 200. */
  readonly reconnectInitialDelayMs?: number | undefined;
  /** Largest reconnect delay in ms. Default 10_000. */
  readonly reconnectMaxDelayMs?: number | undefined;
  /** Throw after this many consecutive failed attempts; default: retry forever. */
  readonly maxAttempts?: number | undefined;
  /** Called before each reconnect, with the error that ended the stream. */
  readonly onReconnect?: ((error: ConnectError, attempt: number, delayMs: number) => void) | undefined;
}

/** What the iterator yields. Heartbeats only move the resume token and are not yielded. */
export type WakeEvent =
  | { readonly type: "wake"; readonly wake: Wake }
  | { readonly type: "ready"; readonly ready: Ready }
  | { readonly type: "gap"; readonly gap: Gap }
  | { readonly type: "status"; readonly status: SourceStatus };

/** The iterator {@link watchWakes} returns, with where it stands. */
export interface WakeStream extends AsyncGenerator<WakeEvent, void, undefined> {
  /** Token of the last frame received (heartbeats included): a new watch started with it loses nothing. */
  readonly resumeToken: string | undefined;
  /** Reconnects so far. */
  readonly reconnects: number;
}

/** The stream's mutable position, shared by the loop and the {@link WakeStream} getters. */
interface Position {
  token: string | undefined;
  reconnects: number;
}

/** The event a frame yields, or undefined (heartbeats, re-delivered wakes). */
function eventOf(frame: WatchWakesResponse, seen: SeenWakes): WakeEvent | undefined {
  const e = frame.event;
  switch (e.case) {
    case "wake":
      return seen.isNew(e.value) ? { type: "wake", wake: e.value } : undefined;
    case "ready":
      return { type: "ready", ready: e.value };
    case "gap":
      if (e.value.reason === GapReason.SOURCE_RESET) seen.forget(e.value.sourceRef);
      return { type: "gap", gap: e.value };
    case "status":
      if (e.value.deleted) seen.forget(e.value.sourceRef);
      return { type: "status", status: e.value };
    default:
      return undefined;
  }
}

async function* run(
  client: Client<typeof PgSyncService>,
  options: WatchWakesOptions,
  body: WatchRequestBody,
  pos: Position,
): AsyncGenerator<WakeEvent, void, undefined> {
  const initial = options.reconnectInitialDelayMs ?? DEFAULT_RECONNECT_INITIAL_DELAY_MS;
  const max = options.reconnectMaxDelayMs ?? DEFAULT_RECONNECT_MAX_DELAY_MS;
  const seen = new SeenWakes();
  let failures = 0;
  while (!options.signal?.aborted) {
    let gotFrame = false;
    const call = callSignal(options.signal);
    try {
      const request = { ...body, start: startOf(pos.token, options.start) };
      for await (const frame of client.watchWakes(request, { signal: call.signal })) {
        failures = 0;
        gotFrame = true;
        pos.token = tokenOf(frame) ?? pos.token;
        const event = eventOf(frame, seen);
        if (event) yield event;
      }
      return; // the server ended the stream normally (every watched source was deleted)
    } catch (err) {
      if (options.signal?.aborted) return;
      const error = ConnectError.from(err);
      if (!shouldReconnect(error, gotFrame)) throw error;
      pos.token ||= error.metadata.get(RESUME_TOKEN_TRAILER) || undefined;
      failures++;
      if (options.maxAttempts !== undefined && failures >= options.maxAttempts) throw error;
      const delay = Math.floor(Math.random() * reconnectDelayCapMs(failures, initial, max));
      pos.reconnects++;
      options.onReconnect?.(error, failures, delay);
      await sleep(delay, options.signal);
    } finally {
      call.end();
    }
  }
}

/**
 * WatchWakes as an async iterable that survives disconnects. The options are checked first: a
 * bad one throws `ConnectError` (`Code.InvalidArgument`) naming it, before any call. The stream
 * reconnects with full-jitter exponential backoff and resumes from the last token it saw (else the
 * given one, else the error's `pgsync-resume-token` trailer) on UNAVAILABLE, on
 * RESOURCE_EXHAUSTED carrying a resume token (the consumer fell behind), and on INTERNAL/UNKNOWN
 * once this connection delivered a frame (a broken stream). Any other error is thrown, as is the
 * last one after `maxAttempts` consecutive failures. Re-delivered wakes (a seen id, or a seq range
 * already covered) are dropped; a source's memory is forgotten on a `SOURCE_RESET` gap or its
 * deletion, since its seqs restart. Rules and defaults are shared with the Python and Go clients
 * (test/vectors/client-conformance.json).
 */
export function watchWakes(client: Client<typeof PgSyncService>, options: WatchWakesOptions): WakeStream {
  const body = watchRequestBody(options);
  if (
    options.maxAttempts !== undefined &&
    !(Number.isInteger(options.maxAttempts) && options.maxAttempts > 0)
  ) {
    throw new ConnectError(
      `watchWakes: maxAttempts must be a positive integer, got ${options.maxAttempts}`,
      Code.InvalidArgument,
    );
  }
  const pos: Position = {
    token: typeof options.start === "object" ? options.start.resumeToken : undefined,
    reconnects: 0,
  };
  const stream = run(client, options, body, pos);
  return Object.defineProperties(stream, {
    resumeToken: { get: () => pos.token, enumerable: true },
    reconnects: { get: () => pos.reconnects, enumerable: true },
  }) as WakeStream;
}
