import { randomUUID } from "node:crypto";
import { Code, ConnectError, type Interceptor, type StreamResponse } from "@connectrpc/connect";
import type { Logger } from "../logger.js";
import { LOG_FIELDS } from "../logger.js";
import { principalKey, requestIdKey } from "./context.js";

/** Header carrying the request id, accepted from the caller when well-formed, echoed back. */
export const REQUEST_ID_HEADER = "x-request-id";

const REQUEST_ID_PATTERN = /^[\w.:-]{1,128}$/;

/** Gives every call a request id (the caller's `x-request-id` when sane, else a new UUID). */
export function createRequestIdInterceptor(): Interceptor {
  return (next) => async (req) => {
    const given = req.header.get(REQUEST_ID_HEADER);
    const id = given && REQUEST_ID_PATTERN.test(given) ? given : randomUUID();
    req.contextValues.set(requestIdKey, id);
    const res = await next(req).catch((err: unknown) => {
      const error = ConnectError.from(err);
      error.metadata.set(REQUEST_ID_HEADER, id);
      throw error;
    });
    res.header.set(REQUEST_ID_HEADER, id);
    return res;
  };
}

/** Codes that are the caller's business, logged at info; the rest (server-side trouble) at warn/error. */
const CLIENT_CODES: ReadonlySet<Code> = new Set([
  Code.Canceled,
  Code.InvalidArgument,
  Code.NotFound,
  Code.AlreadyExists,
  Code.PermissionDenied,
  Code.Unauthenticated,
  Code.FailedPrecondition,
  Code.OutOfRange,
  Code.ResourceExhausted,
  Code.Unimplemented, // unknown method, or a stream cancelled before its request message
]);

/**
 * One log line per call when it ends: method, tenant, code, duration, request id. Internal errors
 * carry their cause in the log, never in the response. Never logs headers or payloads (secrets).
 */
export function createLoggingInterceptor(logger: Logger): Interceptor {
  return (next) => async (req) => {
    const started = performance.now();
    const log = (err: unknown) => {
      const fields: Record<string, unknown> = {
        [LOG_FIELDS.rpcMethod]: `${req.service.typeName}/${req.method.name}`,
        [LOG_FIELDS.requestId]: req.contextValues.get(requestIdKey),
        [LOG_FIELDS.durationMs]: Math.round((performance.now() - started) * 10) / 10,
        protocol: req.header.get("content-type")?.split(";")[0],
      };
      const tenant = req.contextValues.get(principalKey)?.tenant;
      if (tenant) fields[LOG_FIELDS.tenant] = tenant;
      if (err === undefined) {
        fields[LOG_FIELDS.code] = "ok";
        logger.debug(fields, "rpc");
        return;
      }
      const error = ConnectError.from(err);
      fields[LOG_FIELDS.code] = Code[error.code];
      // A client that went away mid-call (reset, closed connection) is not a server error.
      const clientGone = req.signal.aborted || /premature close/i.test(error.rawMessage);
      if (clientGone || CLIENT_CODES.has(error.code) || error.code === Code.Unavailable) {
        logger.info({ ...fields, error: error.rawMessage }, "rpc");
      } else {
        const cause = error.cause instanceof Error ? error.cause : error;
        logger.error({ ...fields, err: { message: cause.message, stack: cause.stack } }, "rpc failed");
      }
    };
    let res: Awaited<ReturnType<typeof next>>;
    try {
      res = await next(req);
    } catch (err) {
      log(err);
      throw err;
    }
    if (!res.stream) {
      log(undefined);
      return res;
    }
    const stream = res as StreamResponse;
    const messages = stream.message;
    async function* logged() {
      try {
        yield* messages;
        log(undefined);
      } catch (err) {
        log(err);
        throw err;
      }
    }
    return { ...stream, message: logged() } as typeof res;
  };
}
