/** Bounds of a {@link BoundedOutbox}. */
export interface OutboxLimits {
  /** Items buffered before a producer waits for the consumer. */
  readonly maxItems: number;
  /** Estimated bytes buffered before a producer waits for the consumer. */
  readonly maxBytes: number;
  /** How long the buffer may stay full with no item taken before the outbox ends with the stall error. */
  readonly stallTimeoutMs: number;
}

/** What was waiting when a consumer stalled. */
export interface OutboxBacklog {
  /** Items that were waiting. */
  readonly items: number;
  /** Their estimated bytes. */
  readonly bytes: number;
}

interface Queued<T> {
  readonly item: T;
  readonly bytes: number;
}

/**
 * A single-consumer queue with backpressure. `push` queues an item and, while the buffer is full
 * (by items or by bytes), waits for the consumer to take one; when the consumer takes nothing for
 * `stallTimeoutMs`, the buffer is dropped and the outbox ends with the error from `onStall`.
 * `end(err?)` is the one way to finish: the consumer receives what is queued, then returns (or
 * throws `err`). After the end, pushes are ignored.
 */
export class BoundedOutbox<T> {
  readonly #limits: OutboxLimits;
  readonly #onStall: (backlog: OutboxBacklog) => unknown;
  readonly #queue: Queued<T>[] = [];
  readonly #roomWaiters = new Set<() => void>();
  #bytes = 0;
  #wakeConsumer: (() => void) | undefined;
  #end: { readonly error: unknown; readonly failed: boolean } | undefined;

  /** `onStall` builds the error the consumer receives when it stalls. */
  constructor(limits: OutboxLimits, onStall: (backlog: OutboxBacklog) => unknown) {
    this.#limits = limits;
    this.#onStall = onStall;
  }

  /** Whether the outbox has ended (normally or with an error). */
  get ended(): boolean {
    return this.#end !== undefined;
  }

  /** Items waiting for the consumer. */
  get size(): number {
    return this.#queue.length;
  }

  /** Estimated bytes waiting for the consumer. */
  get bytes(): number {
    return this.#bytes;
  }

  /**
   * Queues `item` (of estimated size `bytes`); resolves once there is room for the next one, or
   * when the outbox ends (the stall included). Ignored after the end.
   */
  async push(item: T, bytes = 0): Promise<void> {
    if (this.#end) return;
    this.#queue.push({ item, bytes });
    this.#bytes += bytes;
    this.#wakeConsumer?.();
    while (this.#full() && !this.#end) {
      if (!(await this.#waitForRoom())) {
        if (this.#end) return;
        const error = this.#onStall({ items: this.#queue.length, bytes: this.#bytes });
        this.#queue.length = 0;
        this.#bytes = 0;
        this.end(error);
      }
    }
  }

  /** Ends the outbox; with `err`, the consumer throws it after the queued items. First call wins. */
  end(err?: unknown): void {
    if (this.#end) return;
    this.#end = { error: err, failed: err !== undefined };
    this.#wakeConsumer?.();
    for (const release of [...this.#roomWaiters]) release();
  }

  /** The items in order, until the outbox ends or `signal` aborts; throws the end error, if any. */
  async *items(signal: AbortSignal): AsyncGenerator<T> {
    const onAbort = () => this.#wakeConsumer?.();
    signal.addEventListener("abort", onAbort);
    try {
      while (!signal.aborted) {
        const next = this.#queue.shift();
        if (next) {
          this.#bytes -= next.bytes;
          for (const release of [...this.#roomWaiters]) release();
          yield next.item;
          continue;
        }
        if (this.#end?.failed) throw this.#end.error;
        if (this.#end) return;
        await new Promise<void>((resolve) => {
          this.#wakeConsumer = resolve;
        });
        this.#wakeConsumer = undefined;
      }
    } finally {
      signal.removeEventListener("abort", onAbort);
    }
  }

  #full(): boolean {
    return this.#queue.length >= this.#limits.maxItems || this.#bytes >= this.#limits.maxBytes;
  }

  /** Resolves true when the consumer takes an item (or the outbox ends), false after the stall timeout. */
  #waitForRoom(): Promise<boolean> {
    return new Promise<boolean>((resolve) => {
      const release = () => {
        clearTimeout(timer);
        this.#roomWaiters.delete(release);
        resolve(true);
      };
      const timer = setTimeout(() => {
        this.#roomWaiters.delete(release);
        resolve(false);
      }, this.#limits.stallTimeoutMs);
      this.#roomWaiters.add(release);
    });
  }
}
