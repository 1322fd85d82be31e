/** The signal of one call and the way to end it. */
export interface CallSignal {
  /** Aborts when the caller's signal does or {@link CallSignal.end} is called. */
  readonly signal: AbortSignal;
  /** Cancels the call if it is still running; call it whenever the consumer stops reading. */
  end(): void;
}

/**
 * A signal for one streaming call, tied to the caller's. Leaving a `for await` over a Connect
 * stream does not cancel the HTTP/2 stream: the server would keep it open (and count it against
 * the tenant's stream quota) until its flow-control window filled. Ending the call's own signal
 * when the consumer stops reading (break, return, throw) cancels it.
 */
export function callSignal(caller: AbortSignal | undefined): CallSignal {
  const own = new AbortController();
  return {
    signal: caller ? AbortSignal.any([caller, own.signal]) : own.signal,
    end: () => own.abort(),
  };
}
