import { type Message, type Row, ShapeStream, type ShapeStreamOptions } from "@electric-sql/client";
import type { StoredCursor } from "../domain/change-log.js";
import { OFFSET_NOW } from "./electric-constants.js";
import { createElectricFetch } from "./electric-fetch.js";
import type { ShapeParams } from "./shape-params.js";

/** One Electric response batch and the cursor after it. */
export interface ShapeBatch {
  readonly messages: Message<Row<unknown>>[];
  /** The shape handle the batch belongs to (it changes after a must-refetch). */
  readonly handle: string | undefined;
  /** The stream's offset after the batch. */
  readonly offset: string;
}

/** Options of {@link shapeBatches}: the ShapeStream's, minus what the adapter owns. */
export type ShapeBatchesOptions = Omit<ShapeStreamOptions<unknown>, "signal" | "onError">;

/**
 * Electric's default parser turns int8 into BigInt (not JSON-safe) and NaN/Infinity floats into
 * numbers JSON cannot hold. Keep them as exact strings; everything else as Electric parses it.
 */
export const JSON_SAFE_PARSER = {
  int8: (value: string) => value,
  float4: (value: string) => (Number.isFinite(Number(value)) ? Number(value) : value),
  float8: (value: string) => (Number.isFinite(Number(value)) ? Number(value) : value),
};

/** The Electric client's own retries are off: every failure comes back to the bridge's backoff. */
export const NO_CLIENT_RETRIES = { initialDelay: 100, maxDelay: 100, multiplier: 1, maxRetries: 0 };

/**
 * The stream options that resume a source from its committed `cursor` (or start it at `now`):
 * the identical shape params and log mode every time, JSON-safe parsing, no client retries, and
 * requests through {@link createElectricFetch}.
 */
export function resumeOptions(
  shapeUrl: string,
  params: ShapeParams,
  cursor: StoredCursor,
  fetchClient?: typeof fetch,
): ShapeBatchesOptions {
  const fresh = cursor.shapeHandle === undefined || cursor.shapeOffset === undefined;
  return {
    url: shapeUrl,
    // Our params are a plain subset of the client's (table, columns, where, params, replica).
    params: params as unknown as ShapeBatchesOptions["params"],
    log: cursor.logMode,
    offset: fresh ? OFFSET_NOW : (cursor.shapeOffset as `${number}_${number}`),
    ...(fresh ? {} : { handle: cursor.shapeHandle }),
    parser: JSON_SAFE_PARSER,
    backoffOptions: NO_CLIENT_RETRIES,
    fetchClient: createElectricFetch(fetchClient),
  };
}

/**
 * The Electric client's ShapeStream as an async iterable of batches. The client waits for its
 * subscriber before its next request, and the subscriber here waits until the consumer asks for
 * the next batch: one batch at a time per source. Iteration ends when `signal` aborts, throws the
 * stream's error, and closes the stream however the consumer leaves the loop.
 */
export async function* shapeBatches(
  options: ShapeBatchesOptions,
  signal: AbortSignal,
): AsyncGenerator<ShapeBatch, void, undefined> {
  const streamAbort = new AbortController();
  let pending: { batch: ShapeBatch; release: () => void } | undefined;
  let failure: { error: unknown } | undefined;
  let wake: (() => void) | undefined;
  const notify = () => {
    const resolve = wake;
    wake = undefined;
    resolve?.();
  };
  const fail = (error: unknown) => {
    failure ??= { error };
    notify();
  };
  signal.addEventListener("abort", notify, { once: true });
  try {
    if (signal.aborted) return;
    const stream = new ShapeStream<Row<unknown>>({ ...options, signal: streamAbort.signal, onError: fail });
    stream.subscribe(
      (messages) =>
        new Promise<void>((release) => {
          pending = { batch: { messages, handle: stream.shapeHandle, offset: stream.lastOffset }, release };
          notify();
        }),
      fail,
    );
    for (;;) {
      if (signal.aborted) return;
      if (failure) throw failure.error;
      if (pending) {
        const { batch, release } = pending;
        yield batch;
        pending = undefined;
        release();
        continue;
      }
      await new Promise<void>((resolve) => {
        wake = resolve;
      });
    }
  } finally {
    signal.removeEventListener("abort", notify);
    streamAbort.abort();
    pending?.release();
  }
}
