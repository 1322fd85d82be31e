/** Default {@link AckBatchOptions.ackBatchWindowMs}: acks made within one timer turn share a call. */
export const DEFAULT_ACK_BATCH_WINDOW_MS = 0;

/** Default {@link AckBatchOptions.ackBatchSize}. */
export const DEFAULT_ACK_BATCH_SIZE = 100;

/** The server accepts at most this many ids per AckWakes call. */
const MAX_IDS_PER_CALL = 1_000;

/** How acknowledgements are batched into AckWakes calls. */
export interface AckBatchOptions {
  /**
   * How long an `ack()` waits for others to share its AckWakes call, in ms. Default 0: the acks
   * made before the next timer turn (about 1 ms in Node) go together; 0 adds no measurable delay.
   */
  readonly ackBatchWindowMs?: number;
  /** Most ids per AckWakes call; a full batch is sent at once. Default 100, at most 1,000. */
  readonly ackBatchSize?: number;
}

interface Waiting<O> {
  readonly id: string;
  readonly resolve: (outcome: O) => void;
  readonly reject: (err: unknown) => void;
}

/**
 * Collects acknowledgements into AckWakes calls: a batch is sent when it is full or its window
 * ends, without waiting for earlier calls (they run concurrently). Every `ack()` still resolves
 * with its own id's outcome, once the call carrying it has answered (the server has made it
 * durable), or rejects with that call's error.
 */
export class AckBatcher<O> {
  readonly #send: (ids: string[]) => Promise<O[]>;
  readonly #windowMs: number;
  readonly #size: number;
  #waiting: Waiting<O>[] = [];
  #timer: ReturnType<typeof setTimeout> | undefined;

  /** `send` acknowledges `ids` in one call and returns one outcome per id, in order. */
  constructor(send: (ids: string[]) => Promise<O[]>, options: AckBatchOptions = {}) {
    const windowMs = options.ackBatchWindowMs ?? DEFAULT_ACK_BATCH_WINDOW_MS;
    const size = options.ackBatchSize ?? DEFAULT_ACK_BATCH_SIZE;
    if (!Number.isFinite(windowMs) || windowMs < 0) {
      throw new RangeError(`ackBatchWindowMs must be a non-negative number of ms (got ${windowMs})`);
    }
    if (!Number.isInteger(size) || size < 1 || size > MAX_IDS_PER_CALL) {
      throw new RangeError(`ackBatchSize must be an integer from 1 to ${MAX_IDS_PER_CALL} (got ${size})`);
    }
    this.#send = send;
    this.#windowMs = windowMs;
    this.#size = size;
  }

  /** Acknowledges `id` in the next batch; resolves with its outcome. */
  ack(id: string): Promise<O> {
    return new Promise<O>((resolve, reject) => {
      this.#waiting.push({ id, resolve, reject });
      if (this.#waiting.length >= this.#size) this.flush();
      else this.#timer ??= setTimeout(() => this.flush(), this.#windowMs);
    });
  }

  /** Sends what is waiting now. */
  flush(): void {
    clearTimeout(this.#timer);
    this.#timer = undefined;
    const batch = this.#waiting;
    this.#waiting = [];
    if (batch.length === 0) return;
    this.#send(batch.map((w) => w.id)).then(
      (outcomes) => {
        batch.forEach((w, i) => {
          const outcome = outcomes[i];
          if (outcome === undefined) w.reject(new Error(`AckWakes answered no result for ${w.id}`));
          else w.resolve(outcome);
        });
      },
      (err: unknown) => {
        for (const w of batch) w.reject(err);
      },
    );
  }
}
