import { ENV } from "../settings.js";

/**
 * The domain's closed set of errors. Each has a stable `reason` (AIP-193 style) that the transport
 * maps to a status code and an ErrorInfo detail; messages never carry secrets or row values.
 */

/**
 * Every reason a domain error can carry. A closed union: the transport's code table is a
 * `Record<DomainReason, Code>`, so a new reason does not compile until it has a code.
 */
export type DomainReason =
  | "INVALID_SOURCE_OPTIONS"
  | "INVALID_REQUEST"
  | "SOURCE_NOT_FOUND"
  | "URL_NOT_ALLOWED"
  | "NO_SHAPE_URL"
  | "SHAPE_PROBE_FAILED"
  | "QUOTA_EXCEEDED"
  | "UNAVAILABLE"
  | "CONSUMER_TOO_SLOW"
  | "FENCED"
  | "TABLE_NOT_ALLOWED"
  | "COLUMN_NOT_ALLOWED"
  | "POLICY_CLAIM_MISSING"
  | "SOURCE_QUOTA_EXCEEDED"
  | "REGISTRATION_RATE_EXCEEDED"
  | "RESPONSE_TOO_LARGE"
  | "CONSUMER_GROUP_NOT_FOUND"
  | "CONSUMER_GROUP_CONFLICT";

/** Base of every domain error: a stable reason plus ErrorInfo metadata. */
export abstract class DomainError extends Error {
  /** Stable machine-readable reason, e.g. `SOURCE_NOT_FOUND`. */
  abstract readonly reason: DomainReason;
  /** Extra ErrorInfo metadata (field names, refs); never secrets. */
  readonly metadata: Readonly<Record<string, string>>;
  constructor(message: string, metadata: Record<string, string> = {}, options?: ErrorOptions) {
    super(message, options);
    this.metadata = metadata;
  }
}

/** A bad request field; `field` names it in proto form (`options.columns[2]`, `page_size`). */
abstract class InvalidFieldError extends DomainError {
  constructor(
    readonly field: string,
    problem: string,
  ) {
    super(`${field}: ${problem}`, { field });
  }
}

/** A source option is invalid; `field` names it in proto form (`options.columns[2]`). */
export class InvalidSourceOptionsError extends InvalidFieldError {
  override name = "InvalidSourceOptionsError";
  readonly reason = "INVALID_SOURCE_OPTIONS";
}

/** A request field other than the source options is invalid. */
export class InvalidRequestError extends InvalidFieldError {
  override name = "InvalidRequestError";
  readonly reason = "INVALID_REQUEST";
}

/** The source does not exist for this tenant (or belongs to another tenant: same error). */
export class SourceNotFoundError extends DomainError {
  override name = "SourceNotFoundError";
  readonly reason = "SOURCE_NOT_FOUND";
  constructor(readonly sourceRef: string) {
    super(`source ${JSON.stringify(sourceRef)} not found`, { source_ref: sourceRef });
  }
}

/** The source `url` points outside the allow-list. */
export class UrlNotAllowedError extends DomainError {
  override name = "UrlNotAllowedError";
  readonly reason = "URL_NOT_ALLOWED";
  constructor(readonly origin: string) {
    super(`options.url: origin ${origin} is not allowed; an operator can add it to ${ENV.allowedUrls}`, {
      field: "options.url",
      origin,
    });
  }
}

/** No `url` in the options and no server default configured. */
export class NoShapeUrlError extends DomainError {
  override name = "NoShapeUrlError";
  readonly reason = "NO_SHAPE_URL";
  constructor() {
    super(
      `options.url: not set and the server has no default (${ENV.electricUrl}); pass a shape endpoint url`,
      { field: "options.url" },
    );
  }
}

/**
 * The shape endpoint cannot serve the shape; `detail` says why in terms a user can act on, as what
 * the endpoint did ("is unreachable", "rejected the shape (400): …"): the message names the
 * endpoint once and never its URL (the server's default endpoint is internal).
 */
export class ShapeProbeFailedError extends DomainError {
  override name = "ShapeProbeFailedError";
  readonly reason = "SHAPE_PROBE_FAILED";
  constructor(
    readonly detail: string,
    readonly status?: number,
  ) {
    super(
      `registration probe failed: the shape endpoint ${detail}`,
      status === undefined ? {} : { status: String(status) },
    );
  }
}

/** A tenant or server limit was reached. */
export class QuotaExceededError extends DomainError {
  override name = "QuotaExceededError";
  readonly reason = "QUOTA_EXCEEDED";
  constructor(
    readonly quota: string,
    message: string,
  ) {
    super(message, { quota });
  }
}

/** The authorization policy (or the reserved schemas) does not let the tenant observe the table. */
export class TableNotAllowedError extends DomainError {
  override name = "TableNotAllowedError";
  readonly reason = "TABLE_NOT_ALLOWED";
  constructor(
    readonly table: string,
    why: string,
  ) {
    super(`options.table: ${table} ${why}`, { field: "options.table", table });
  }
}

/** The policy restricts the table's columns and the source asks for others (or for all). */
export class ColumnNotAllowedError extends DomainError {
  override name = "ColumnNotAllowedError";
  readonly reason = "COLUMN_NOT_ALLOWED";
  constructor(
    readonly field: string,
    readonly table: string,
    problem: string,
  ) {
    super(`${field}: ${problem}`, { field, table });
  }
}

/** The policy's row filter references a claim the caller's credentials do not carry. */
export class PolicyClaimMissingError extends DomainError {
  override name = "PolicyClaimMissingError";
  readonly reason = "POLICY_CLAIM_MISSING";
  constructor(readonly claim: string) {
    super(`the row filter for this table needs the token claim "${claim}" (a string or number)`, { claim });
  }
}

/** Reasons of {@link LimitExceededError}, each a RESOURCE_EXHAUSTED quota. */
export type LimitReason = "SOURCE_QUOTA_EXCEEDED" | "REGISTRATION_RATE_EXCEEDED" | "RESPONSE_TOO_LARGE";

/** A per-tenant quota was reached; `limit` is the configured value, `retryAfterMs` when waiting helps. */
export class LimitExceededError extends DomainError {
  override name = "LimitExceededError";
  constructor(
    readonly reason: LimitReason,
    message: string,
    readonly limit: number,
    retryAfterMs?: number,
  ) {
    super(message, {
      limit: String(limit),
      ...(retryAfterMs === undefined ? {} : { retry_after_ms: String(retryAfterMs) }),
    });
  }
}

/** The state database (or another dependency) cannot be reached; clients should retry. */
export class UnavailableError extends DomainError {
  override name = "UnavailableError";
  readonly reason = "UNAVAILABLE";
  constructor(message: string, options?: ErrorOptions) {
    super(message, {}, options);
  }
}

/** A WatchWakes consumer fell behind its buffer: the stream ends with this token to resume from. */
export class ConsumerTooSlowError extends DomainError {
  override name = "ConsumerTooSlowError";
  readonly reason = "CONSUMER_TOO_SLOW";
  constructor(
    readonly resumeToken: string,
    readonly bufferedFrames: number,
    /** Estimated bytes of the frames waiting. */
    readonly bufferedBytes = 0,
  ) {
    super(
      `the consumer stopped reading and ${bufferedFrames} frames (about ${bufferedBytes} bytes) are waiting; reconnect with the resume token (also in the pgsync-resume-token trailer)`,
      { resume_token: resumeToken },
    );
  }
}

/** A bridge wrote with a stale generation: another owner took the source over. */
export class FencedError extends DomainError {
  override name = "FencedError";
  readonly reason = "FENCED";
  constructor(
    readonly sourceRef: string,
    readonly generation: bigint,
  ) {
    super(`source ${sourceRef}: generation ${generation} is no longer the owner`, { source_ref: sourceRef });
  }
}

/** True for any domain error. */
export function isDomainError(err: unknown): err is DomainError {
  return err instanceof DomainError;
}

/** The group does not exist for this tenant (or is another tenant's: same error). */
export class ConsumerGroupNotFoundError extends DomainError {
  override name = "ConsumerGroupNotFoundError";
  readonly reason = "CONSUMER_GROUP_NOT_FOUND";
  constructor(readonly group: string) {
    super(`consumer group ${JSON.stringify(group)} not found`, { group });
  }
}

/** A request names a group setting that differs from the one the group was created with. */
export class ConsumerGroupConflictError extends DomainError {
  override name = "ConsumerGroupConflictError";
  readonly reason = "CONSUMER_GROUP_CONFLICT";
  constructor(
    readonly field: string,
    readonly group: string,
    existing: string,
  ) {
    super(
      `${field}: differs from consumer group ${JSON.stringify(group)}, created with ${existing}; leave it unset to keep the group's, or delete the group first`,
      { field, group },
    );
  }
}
