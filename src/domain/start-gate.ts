/**
 * A counting semaphore for bridge (re)starts: at most `limit` bridges between opening their
 * shape stream and their first committed batch at once. Without it, a restart or a lost-lease
 * storm of thousands of bridges queued thousands of state-database requests at once, and
 * node-postgres's pool does linear work per queued request (measured: a 37 s event-loop stall at
 * 6,200 sources). Written here rather than taken from a package: a waiter must leave the queue
 * when its bridge is stopped (an AbortSignal), which the common semaphore packages do not offer.
 */
export class StartGate {
  readonly #limit: number;
  readonly #maxHoldMs: number;
  #active = 0;
  readonly #waiting = new Set<() => void>();

  /** `maxHoldMs`: a slot is given back after this long even if not released (a start that hangs). */
  constructor(limit: number, maxHoldMs: number) {
    if (!Number.isInteger(limit) || limit < 1) throw new RangeError("limit must be a positive integer");
    this.#limit = limit;
    this.#maxHoldMs = maxHoldMs;
  }

  /** Starts in progress. */
  get active(): number {
    return this.#active;
  }

  /** Starts waiting for a slot. */
  get waiting(): number {
    return this.#waiting.size;
  }

  /**
   * Resolves with a release function once a slot is free (later calls of it do nothing; the
   * slot also comes back by itself after `maxHoldMs`), or rejects with the signal's reason when
   * `signal` aborts first.
   */
  async acquire(signal: AbortSignal): Promise<() => void> {
    signal.throwIfAborted();
    if (this.#active >= this.#limit) {
      await new Promise<void>((resolve, reject) => {
        const grant = () => {
          signal.removeEventListener("abort", onAbort);
          resolve();
        };
        const onAbort = () => {
          this.#waiting.delete(grant);
          reject(signal.reason);
        };
        this.#waiting.add(grant);
        signal.addEventListener("abort", onAbort, { once: true });
      });
    } else {
      this.#active++;
    }
    let released = false;
    const release = () => {
      if (released) return;
      released = true;
      clearTimeout(timer);
      const next = this.#waiting.values().next();
      if (next.done) {
        this.#active--;
        return;
      }
      // The slot passes straight to the next waiter.
      this.#waiting.delete(next.value);
      next.value();
    };
    const timer = setTimeout(release, this.#maxHoldMs);
    timer.unref();
    return release;
  }
}
