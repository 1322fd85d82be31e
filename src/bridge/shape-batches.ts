import { type Message, type Row, ShapeStream, type ShapeStreamOptions } from "@electric-sql/client";
import type { StoredCursor } from "../domain/change-log.js";
import { OFFSET_NOW } from "./electric-constants.js";
import { createElectricFetch } from "./electric-fetch.js";
import { createLeanBodies } from "./lean-bodies.js";
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
 * Whether the consumer holds a batch. A response that arrives meanwhile waits in
 * {@link holdWhileBusy} until the consumer is done with it, unread.
 */
interface HandOff {
  busy(): void;
  free(): void;
  whenFree(): Promise<void>;
}

function createHandOff(): HandOff {
  let waiting: (() => void)[] | undefined;
  return {
    busy: () => {
      waiting ??= [];
    },
    free: () => {
      const resolvers = waiting ?? [];
      waiting = undefined;
      for (const resolve of resolvers) resolve();
    },
    whenFree: () => (waiting ? new Promise<void>((resolve) => waiting?.push(resolve)) : Promise.resolve()),
  };
}

/**
 * Wraps `base` so that a response is handed to the Electric client (which then reads, parses and
 * publishes it) only once the consumer has finished the batch it holds. The request itself, and
 * the server's work and the round trip behind it, overlap the consumer's commit; the body waits
 * in the connection's buffers, so the process still holds one parsed batch per source.
 */
function holdWhileBusy(base: typeof fetch, handOff: HandOff): typeof fetch {
  return async (input, init) => {
    const response = await base(input, init);
    await handOff.whenFree();
    if (init?.signal?.aborted) {
      await response.body?.cancel().catch(() => {});
      throw init.signal.reason;
    }
    return response;
  };
}

/**
 * Messages from which a batch's commit is pipelined with the next request. A batch this large
 * means the source is catching up: its commit takes long and the next response will be large,
 * so the round trip and the server's work behind it are worth overlapping (bench P1). A smaller
 * batch means the source is live: the next request goes out after the commit, so everything
 * that arrived during the commit comes back in one response and one commit, where a pipelined
 * long-poll would answer with the first change alone and split the rest into a further commit
 * (bench P4: one commit costs more than a round trip on a busy state database).
 */
export const PIPELINE_MIN_MESSAGES = 500;

/**
 * The Electric client's ShapeStream as an async iterable of batches, one parsed batch at a time.
 * Large bodies reach the client lean and come back whole ({@link createLeanBodies}).
 * The client waits for its subscriber before its next request. For a batch of at least
 * `pipelineMinMessages` messages the subscriber is released as soon as the consumer takes the
 * batch, so the next request (catch-up chunk or live long-poll) is in flight while the consumer
 * commits; its response is handed to the client only when the consumer asks for the next batch
 * ({@link holdWhileBusy}). A smaller batch releases the client once the consumer is done with it.
 * Batches come in the stream's order. Iteration ends when `signal` aborts, throws the stream's
 * error, and closes the stream however the consumer leaves the loop.
 */
export async function* shapeBatches(
  options: ShapeBatchesOptions,
  signal: AbortSignal,
  pipelineMinMessages = PIPELINE_MIN_MESSAGES,
): AsyncGenerator<ShapeBatch, void, undefined> {
  const streamAbort = new AbortController();
  const handOff = createHandOff();
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
    const lean = createLeanBodies(holdWhileBusy(options.fetchClient ?? fetch, handOff), options.parser);
    const stream = new ShapeStream<Row<unknown>>({
      ...options,
      fetchClient: lean.fetch,
      signal: streamAbort.signal,
      onError: fail,
    });
    stream.subscribe(
      (published) =>
        new Promise<void>((release) => {
          try {
            const messages = lean.restore(published);
            pending = { batch: { messages, handle: stream.shapeHandle, offset: stream.lastOffset }, release };
          } catch (error) {
            fail(error);
            release();
          }
          notify();
        }),
      fail,
    );
    for (;;) {
      if (signal.aborted) return;
      if (failure) throw failure.error;
      if (pending) {
        const { batch, release } = pending;
        pending = undefined;
        const pipelined = batch.messages.length >= pipelineMinMessages;
        handOff.busy();
        if (pipelined) release();
        yield batch;
        handOff.free();
        if (!pipelined) release();
        continue;
      }
      await new Promise<void>((resolve) => {
        wake = resolve;
      });
    }
  } finally {
    signal.removeEventListener("abort", notify);
    streamAbort.abort();
    handOff.free();
    pending?.release();
  }
}
