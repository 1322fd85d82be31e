import { create } from "@bufbuild/protobuf";
import { Code, ConnectError } from "@connectrpc/connect";
import { ErrorInfoSchema } from "../../gen/google/rpc/error_details_pb.js";
import { type DomainReason, isDomainError } from "../domain/errors.js";
import { classifyPgError } from "../storage/pg-errors.js";

/** ErrorInfo domain of every pg-sync error. */
export const ERROR_DOMAIN = "pgsync.dev";

/** The status code of every domain reason; the compiler checks that none is missing. */
export const CODE_BY_REASON: Readonly<Record<DomainReason, Code>> = {
  INVALID_SOURCE_OPTIONS: Code.InvalidArgument,
  INVALID_REQUEST: Code.InvalidArgument,
  SOURCE_NOT_FOUND: Code.NotFound,
  URL_NOT_ALLOWED: Code.PermissionDenied,
  NO_SHAPE_URL: Code.FailedPrecondition,
  SHAPE_PROBE_FAILED: Code.FailedPrecondition,
  QUOTA_EXCEEDED: Code.ResourceExhausted,
  // issue 12 (security): policy refusals and quotas.
  TABLE_NOT_ALLOWED: Code.PermissionDenied,
  COLUMN_NOT_ALLOWED: Code.PermissionDenied,
  POLICY_CLAIM_MISSING: Code.PermissionDenied,
  SOURCE_QUOTA_EXCEEDED: Code.ResourceExhausted,
  REGISTRATION_RATE_EXCEEDED: Code.ResourceExhausted,
  RESPONSE_TOO_LARGE: Code.ResourceExhausted,
  UNAVAILABLE: Code.Unavailable,
  CONSUMER_TOO_SLOW: Code.ResourceExhausted,
  FENCED: Code.Aborted,
  CONSUMER_GROUP_NOT_FOUND: Code.NotFound,
  CONSUMER_GROUP_CONFLICT: Code.FailedPrecondition,
};

/** ErrorInfo reasons the transport itself gives, for errors that are not domain errors. */
export const TRANSPORT_REASONS = {
  /** The state database cannot be reached; retry. */
  stateDbUnavailable: "STATE_DB_UNAVAILABLE",
  /** Anything unexpected; the cause is logged, never sent. */
  internal: "INTERNAL",
} as const;

function withErrorInfo(
  message: string,
  code: Code,
  reason: string,
  metadata: Record<string, string>,
  cause: unknown,
): ConnectError {
  const info = create(ErrorInfoSchema, { reason, domain: ERROR_DOMAIN, metadata });
  return new ConnectError(message, code, undefined, [{ desc: ErrorInfoSchema, value: info }], cause);
}

/**
 * Maps any error to a ConnectError: domain errors to their code with an ErrorInfo detail
 * (reason, domain, metadata); ConnectErrors pass through; a lost state database to UNAVAILABLE;
 * anything else to INTERNAL with a generic message (the original stays in `cause`, for the log).
 */
export function toConnectError(err: unknown): ConnectError {
  if (err instanceof ConnectError) return err;
  if (isDomainError(err)) {
    return withErrorInfo(err.message, CODE_BY_REASON[err.reason], err.reason, { ...err.metadata }, err);
  }
  if (classifyPgError(err) === "unavailable") {
    return withErrorInfo(
      "state database unavailable; retry",
      Code.Unavailable,
      TRANSPORT_REASONS.stateDbUnavailable,
      {},
      err,
    );
  }
  return withErrorInfo("internal error", Code.Internal, TRANSPORT_REASONS.internal, {}, err);
}

/**
 * The canonical gRPC name of a status code, `OK` for success (`undefined`): `INVALID_ARGUMENT`,
 * `FAILED_PRECONDITION`, … The one spelling of codes in logs and metric labels.
 */
export function statusCodeName(code: Code | undefined): string {
  if (code === undefined) return "OK";
  return (Code[code] ?? "UNKNOWN").replace(/([a-z])([A-Z])/g, "$1_$2").toUpperCase();
}

/** The ErrorInfo reason of an error, when it carries one. */
export function errorReason(err: ConnectError): string | undefined {
  return err.findDetails(ErrorInfoSchema)[0]?.reason;
}
