/**
 * One shared pending notification: waiters register a callback (or await `wait()`), and one
 * `notify()` wakes them all. Callbacks are removed when they fire or unsubscribe, so waiters that
 * give up (timeouts, disconnects) leave nothing behind.
 */
export class Notifier {
  #listeners = new Set<() => void>();

  /** Registers `listener` for the next `notify()`; returns the function that removes it. */
  subscribe(listener: () => void): () => void {
    this.#listeners.add(listener);
    return () => {
      this.#listeners.delete(listener);
    };
  }

  /** Resolves at the next `notify()`. */
  wait(): Promise<void> {
    return new Promise<void>((resolve) => {
      this.#listeners.add(resolve);
    });
  }

  /** Number of registered listeners. */
  get size(): number {
    return this.#listeners.size;
  }

  /** Wakes every current listener. */
  notify(): void {
    const listeners = this.#listeners;
    this.#listeners = new Set();
    for (const listener of listeners) listener();
  }
}

/** Resolves after `ms`, or at once when `signal` aborts; the timer is cleared either way. */
export function delay(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal?.aborted) return resolve();
    const timer = setTimeout(done, ms);
    function done(): void {
      clearTimeout(timer);
      signal?.removeEventListener("abort", done);
      resolve();
    }
    signal?.addEventListener("abort", done, { once: true });
  });
}
