/** Errors the shape server turns into Electric's HTTP error responses. */

/** Field → messages, the `errors` object of a 400 body. */
export type FieldErrors = Record<string, string[]>;

/** The `errors` object of a 400 body: messages per field, or per sub-field (`subset.limit`). */
export type RequestErrors = Record<string, string[] | Record<string, string[]>>;

/** A request Electric would reject with `400 {"message":"Invalid request","errors":{...}}`. */
export class InvalidRequestError extends Error {
  override name = "InvalidRequestError";
  /** Stable reason. */
  readonly reason = "INVALID_REQUEST";
  /** Messages per request field. */
  readonly errors: RequestErrors;

  constructor(errors: RequestErrors) {
    super(`Invalid request: ${JSON.stringify(errors)}`);
    this.errors = errors;
  }

  /** An error about one field. */
  static field(field: string, message: string): InvalidRequestError {
    return new InvalidRequestError({ [field]: [message] });
  }
}

/** The server cannot serve now; answered with 503 and `retry-after`. */
export class UnavailableError extends Error {
  override name = "UnavailableError";
  /** Stable reason. */
  readonly reason = "UNAVAILABLE";
  /** Seconds for the `retry-after` header. */
  readonly retryAfterS: number;
  /** Sets `electric-internal-known-error: true`. */
  readonly knownError: boolean;

  constructor(message: string, retryAfterS: number, knownError = false, options?: ErrorOptions) {
    super(message, options);
    this.retryAfterS = retryAfterS;
    this.knownError = knownError;
  }
}

/** The shape a request (or a held live request) refers to is gone; answered with 409. */
export class ShapeGoneError extends Error {
  override name = "ShapeGoneError";
  /** Stable reason. */
  readonly reason = "SHAPE_GONE";

  constructor(handle: string) {
    super(`shape ${handle} was rotated or deleted`);
  }
}
