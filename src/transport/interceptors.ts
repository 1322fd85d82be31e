import { randomUUID } from "node:crypto";
import {
  Code,
  ConnectError,
  type Interceptor,
  type StreamResponse,
  type UnaryResponse,
} from "@connectrpc/connect";
import { context, isSpanContextValid, SpanKind, SpanStatusCode, trace } from "@opentelemetry/api";
import type { Logger } from "../logger.js";
import { LOG_FIELDS } from "../logger.js";
import type { Metrics } from "../metrics.js";
import { extractRequestContext, tracer } from "../tracing.js";
import { type Authenticator, createAuthInterceptor } from "./auth.js";
import { principalKey, requestIdKey, traceContextKey } from "./context.js";
import { errorReason, statusCodeName, toConnectError } from "./errors.js";

/** The next handler in an interceptor chain. */
type Next = Parameters<Interceptor>[0];

/**
 * `messages` with `settle` called exactly once: `undefined` when the last message has been read,
 * else the error the stream threw (`settle` returns the error to throw in its place). Closing the
 * stream early (`return()`) settles only if that throws. A plain iterator, not an async generator:
 * every message of every stream passes through one of these per interceptor, and a generator's
 * `yield*` costs several promises per message where this costs one.
 */
function settleStream<T>(messages: AsyncIterable<T>, settle: (err: unknown) => unknown): AsyncIterable<T> {
  return {
    [Symbol.asyncIterator](): AsyncIterator<T> {
      const inner = messages[Symbol.asyncIterator]();
      let settled = false;
      const end = { done: true, value: undefined } as const;
      const fail = (err: unknown): never => {
        settled = true;
        throw settle(err);
      };
      /** A message passes; the end of the stream settles it as a success. */
      const passOrEnd = (r: IteratorResult<T>) => {
        if (!r.done) return r;
        settled = true;
        settle(undefined);
        return end;
      };
      return {
        next: () => {
          if (settled) return Promise.resolve(end);
          return inner.next().then(passOrEnd, fail);
        },
        return: (value?: unknown) => {
          if (settled || !inner.return) return Promise.resolve({ done: true, value: value as T });
          settled = true;
          return inner.return(value).then(() => end, fail);
        },
        throw: (err?: unknown) => {
          if (settled || !inner.throw) return Promise.reject(err);
          return inner.throw(err).then(passOrEnd, fail);
        },
      };
    },
  };
}

/**
 * Calls `next(req)` and hands the call's outcome to `settle` exactly once: `undefined` on success
 * (for a stream: when its last message was read), else the error the handler threw (for a stream:
 * while producing messages). `settle` returns the error to throw in its place.
 */
async function settleOutcome(
  next: Next,
  req: Parameters<Next>[0],
  settle: (err: unknown) => unknown,
): Promise<UnaryResponse | StreamResponse> {
  let res: UnaryResponse | StreamResponse;
  try {
    res = await next(req);
  } catch (err) {
    throw settle(err);
  }
  if (!res.stream) {
    settle(undefined);
    return res;
  }
  return { ...res, message: settleStream(res.message, settle) };
}

/**
 * Maps every error a handler throws (unary, or while streaming) to a ConnectError with
 * {@link toConnectError}: the one place where domain, Postgres and unexpected errors get their
 * status code. Put it last (innermost) so the other interceptors see mapped errors.
 */
export function createErrorInterceptor(): Interceptor {
  return (next) => (req) =>
    settleOutcome(next, req, (err) => (err === undefined ? undefined : toConnectError(err)));
}

/**
 * One server span per call, `<service>/<method>`, child of the caller's `traceparent` when it
 * sent one; ends when the call does (a stream: when its last message is read) with the gRPC code.
 * The span's context is active for the inner interceptors and stored under
 * {@link traceContextKey} for handlers. A no-op span while tracing is off.
 */
export function createTracingInterceptor(): Interceptor {
  return (next) => (req) => {
    const parent = extractRequestContext(req.header);
    const span = tracer.startSpan(
      `${req.service.typeName}/${req.method.name}`,
      {
        kind: SpanKind.SERVER,
        attributes: {
          "rpc.system": "grpc",
          "rpc.service": req.service.typeName,
          "rpc.method": req.method.name,
        },
      },
      parent,
    );
    const ctx = trace.setSpan(parent, span);
    req.contextValues.set(traceContextKey, ctx);
    return context.with(ctx, () =>
      settleOutcome(next, req, (err) => {
        const code = err === undefined ? undefined : ConnectError.from(err).code;
        span.setAttribute("rpc.grpc.status_code", code ?? 0);
        if (code !== undefined) span.setStatus({ code: SpanStatusCode.ERROR, message: statusCodeName(code) });
        span.end();
        return err;
      }),
    );
  };
}

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

/** The RPC metrics the logging interceptor records. */
export type RpcMetrics = Pick<Metrics, "rpcHandled" | "rpcSeconds">;

/**
 * One log line per call when it ends: method, tenant, code (`OK`, `INVALID_ARGUMENT`: gRPC's
 * names), ErrorInfo reason, duration, request id; and, with `metrics`, the call counted by
 * service, method and code (unary calls also timed). Internal errors carry their cause in the
 * log, never in the response. Never logs headers or payloads (secrets).
 */
export function createLoggingInterceptor(logger: Logger, metrics?: RpcMetrics): Interceptor {
  return (next) => async (req) => {
    const started = performance.now();
    const spanContext = trace.getSpan(context.active())?.spanContext();
    const traceId = spanContext && isSpanContextValid(spanContext) ? spanContext.traceId : undefined;
    const log = (err: unknown) => {
      const seconds = (performance.now() - started) / 1000;
      const error = err === undefined ? undefined : ConnectError.from(err);
      const code = statusCodeName(error?.code);
      const labels = { service: req.service.typeName, method: req.method.name };
      metrics?.rpcHandled.inc({ ...labels, code });
      if (req.stream === false) metrics?.rpcSeconds.observe(labels, seconds);
      const fields: Record<string, unknown> = {
        [LOG_FIELDS.rpcMethod]: `${req.service.typeName}/${req.method.name}`,
        [LOG_FIELDS.requestId]: req.contextValues.get(requestIdKey),
        [LOG_FIELDS.durationMs]: Math.round(seconds * 10_000) / 10,
        [LOG_FIELDS.code]: code,
        protocol: req.header.get("content-type")?.split(";")[0],
      };
      const tenant = req.contextValues.get(principalKey)?.tenant;
      if (tenant) fields[LOG_FIELDS.tenant] = tenant;
      if (traceId) fields[LOG_FIELDS.traceId] = traceId;
      if (error === undefined) {
        logger.debug(fields, "rpc");
        return;
      }
      const reason = errorReason(error);
      if (reason) fields[LOG_FIELDS.reason] = reason;
      // A client that went away mid-call (reset, closed connection) is not a server error.
      const clientGone = req.signal.aborted || /premature close/i.test(error.rawMessage);
      if (clientGone || CLIENT_CODES.has(error.code) || error.code === Code.Unavailable) {
        logger.info({ ...fields, error: error.rawMessage }, "rpc");
      } else {
        const cause = error.cause instanceof Error ? error.cause : error;
        logger.error({ ...fields, err: { message: cause.message, stack: cause.stack } }, "rpc failed");
      }
    };
    return settleOutcome(next, req, (err) => {
      log(err);
      return err;
    });
  };
}

/** Options of {@link createInterceptorChain}. */
export interface InterceptorChainOptions {
  /** Logger of the per-call lines. */
  readonly logger: Logger;
  /** Turns credentials into a principal. */
  readonly authenticator: Authenticator;
  /** Services callable without credentials (health, reflection). */
  readonly exemptServices: readonly string[];
  /** Where calls are counted and timed; none in tests that do not care. */
  readonly metrics?: RpcMetrics;
}

/**
 * The server's interceptors, outermost first: tracing, request id, logging, authentication, then
 * error mapping (innermost, so every outer interceptor sees ConnectErrors).
 */
export function createInterceptorChain(options: InterceptorChainOptions): Interceptor[] {
  return [
    createTracingInterceptor(),
    createRequestIdInterceptor(),
    createLoggingInterceptor(options.logger, options.metrics),
    createAuthInterceptor(options.authenticator, { exemptServices: options.exemptServices }),
    createErrorInterceptor(),
  ];
}
