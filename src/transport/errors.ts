import { create } from "@bufbuild/protobuf";
import { Code, ConnectError } from "@connectrpc/connect";
import { ErrorInfoSchema } from "../../gen/google/rpc/error_details_pb.js";
import { isDomainError } from "../domain/errors.js";

/** ErrorInfo domain of every pg-sync error. */
export const ERROR_DOMAIN = "pgsync.dev";

const CODE_BY_REASON: Record<string, Code> = {
  INVALID_SOURCE_OPTIONS: Code.InvalidArgument,
  INVALID_REQUEST: Code.InvalidArgument,
  SOURCE_NOT_FOUND: Code.NotFound,
  URL_NOT_ALLOWED: Code.PermissionDenied,
  NO_SHAPE_URL: Code.FailedPrecondition,
  SHAPE_PROBE_FAILED: Code.FailedPrecondition,
  QUOTA_EXCEEDED: Code.ResourceExhausted,
  UNAVAILABLE: Code.Unavailable,
  // --- consumer groups (issue 15) ---
  CONSUMER_GROUP_NOT_FOUND: Code.NotFound,
  CONSUMER_GROUP_CONFLICT: Code.FailedPrecondition,
  // --- end consumer groups ---
};

/**
 * Postgres SQLSTATEs meaning "the database cannot be reached or is going away": connection
 * exceptions (08), admin/crash shutdown and cannot-connect-now (57P0x), too many connections.
 */
function isConnectionFailure(err: unknown): boolean {
  const code = (err as { code?: unknown })?.code;
  // node-postgres's own errors for a dropped or unobtainable connection carry no code.
  if (typeof code !== "string") {
    return /^(Connection terminated|timeout exceeded when trying to connect)/.test(
      (err as Error)?.message ?? "",
    );
  }
  return (
    code.startsWith("08") ||
    code === "57P01" ||
    code === "57P02" ||
    code === "57P03" ||
    code === "53300" ||
    code === "ECONNREFUSED" ||
    code === "ETIMEDOUT"
  );
}

/**
 * Maps any error to a ConnectError: domain errors to their code with an ErrorInfo detail
 * (reason, domain, metadata); ConnectErrors pass through; a lost state database to UNAVAILABLE;
 * anything else to INTERNAL with a generic message (the original stays in `cause`, for the log).
 */
export function toConnectError(err: unknown): ConnectError {
  if (err instanceof ConnectError) return err;
  if (isDomainError(err)) {
    const code = CODE_BY_REASON[err.reason] ?? Code.Internal;
    const info = create(ErrorInfoSchema, {
      reason: err.reason,
      domain: ERROR_DOMAIN,
      metadata: { ...err.metadata },
    });
    return new ConnectError(err.message, code, undefined, [{ desc: ErrorInfoSchema, value: info }], err);
  }
  if (isConnectionFailure(err)) {
    const info = create(ErrorInfoSchema, { reason: "STATE_DB_UNAVAILABLE", domain: ERROR_DOMAIN });
    return new ConnectError(
      "state database unavailable; retry",
      Code.Unavailable,
      undefined,
      [{ desc: ErrorInfoSchema, value: info }],
      err,
    );
  }
  const info = create(ErrorInfoSchema, { reason: "INTERNAL", domain: ERROR_DOMAIN });
  return new ConnectError(
    "internal error",
    Code.Internal,
    undefined,
    [{ desc: ErrorInfoSchema, value: info }],
    err,
  );
}
