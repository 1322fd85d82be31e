/**
 * Group commit for calls that settle items in one statement: calls for the same key that arrive
 * while a flush for that key is in flight wait, and the next flush settles all of them at once.
 * A lone call is flushed at once (after the current event-loop turn, so calls read from the same
 * socket read join it). Every call gets exactly the results of its own items, in order, and
 * resolves only once the flush holding them has finished (durability stays the flush's own).
 *
 * ```
 *   submit ─▶ queued ──(no flush in flight)──▶ flushing ──▶ resolved
 *                 ▲                                │
 *                 └──── arrives meanwhile ─────────┘ (joins the next flush)
 * ```
 */

/** Settles the items of one or more calls in one go; returns one result per item, in order. */
export type FlushFn<I, O> = (items: readonly I[]) => Promise<readonly O[]>;

interface Call<I, O> {
  readonly items: readonly I[];
  readonly flush: FlushFn<I, O>;
  readonly resolve: (results: O[]) => void;
  readonly reject: (err: unknown) => void;
}

/** Schedules the first flush of an idle key; `setImmediate` by default. */
export type Defer = (run: () => void) => void;

/** A keyed group-commit queue (see the file comment). */
export class Coalescer<I, O> {
  readonly #maxItems: number;
  readonly #defer: Defer;
  readonly #queues = new Map<string, Call<I, O>[]>();

  /**
   * @param maxItems most items per flush (a call larger than this is flushed alone, whole).
   * @param defer schedules a flush of an idle key.
   */
  constructor(maxItems: number, defer: Defer = (run) => setImmediate(run)) {
    if (!Number.isInteger(maxItems) || maxItems < 1)
      throw new RangeError("maxItems must be a positive integer");
    this.#maxItems = maxItems;
    this.#defer = defer;
  }

  /** Calls (for all keys) waiting for a flush or in one. */
  get pending(): number {
    let n = 0;
    for (const queue of this.#queues.values()) n += queue.length;
    return n;
  }

  /**
   * Settles `items` with the calls of the same `key` that join it; `flush` must be the same
   * operation for every call of a key (the first queued call's is used for the batch).
   */
  submit(key: string, items: readonly I[], flush: FlushFn<I, O>): Promise<O[]> {
    return new Promise<O[]>((resolve, reject) => {
      const call = { items, flush, resolve, reject };
      const queue = this.#queues.get(key);
      if (queue) {
        queue.push(call);
        return;
      }
      this.#queues.set(key, [call]);
      this.#defer(() => void this.#drain(key));
    });
  }

  /** Flushes the key's queue batch by batch until it is empty, then forgets the key. */
  async #drain(key: string): Promise<void> {
    const queue = this.#queues.get(key);
    if (!queue) return;
    while (queue.length > 0) {
      const batch = this.#take(queue);
      const items = batch.flatMap((c) => c.items);
      try {
        const results = await (batch[0] as Call<I, O>).flush(items);
        if (results.length !== items.length) {
          throw new Error(`flush returned ${results.length} results for ${items.length} items`);
        }
        let at = 0;
        for (const call of batch) {
          call.resolve(results.slice(at, at + call.items.length));
          at += call.items.length;
        }
      } catch (err) {
        for (const call of batch) call.reject(err);
      }
    }
    this.#queues.delete(key);
  }

  /** Removes the next batch from the queue: at least one call, at most `maxItems` items. */
  #take(queue: Call<I, O>[]): Call<I, O>[] {
    let count = 0;
    let n = 0;
    while (n < queue.length) {
      const size = (queue[n] as Call<I, O>).items.length;
      if (n > 0 && count + size > this.#maxItems) break;
      count += size;
      n++;
    }
    return queue.splice(0, n);
  }
}
