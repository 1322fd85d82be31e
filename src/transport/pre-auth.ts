import type http from "node:http";
import type http2 from "node:http2";
import type net from "node:net";
import { ConnectError } from "@connectrpc/connect";
import type { Authenticator } from "./auth.js";
import type { UniversalHandler } from "./listener.js";

/** Options of {@link createPreAuthHandler}. */
export interface PreAuthOptions {
  /** URL path prefixes that need credentials, e.g. `/pgsync.v1.PgSyncService/`. */
  readonly protectedPrefixes: readonly string[];
}

type Res = http.ServerResponse | http2.Http2ServerResponse;

/** The RPC protocol a request speaks, from its content type (and method, for Connect GET). */
function protocolOf(req: http.IncomingMessage | http2.Http2ServerRequest) {
  const type = (req.headers["content-type"] ?? "").split(";")[0]?.trim().toLowerCase() ?? "";
  if (type.startsWith("application/grpc-web")) return { kind: "grpc-web" as const, type };
  if (type.startsWith("application/grpc")) return { kind: "grpc" as const, type };
  if (type.startsWith("application/connect+")) return { kind: "connect-stream" as const, type };
  return { kind: "connect-unary" as const, type };
}

/** The end-of-stream envelope of the Connect streaming protocol carrying an error. */
function connectEndStream(message: string): Buffer {
  const json = Buffer.from(JSON.stringify({ error: { code: "unauthenticated", message } }));
  const head = Buffer.alloc(5);
  head.writeUInt8(0b10, 0);
  head.writeUInt32BE(json.length, 1);
  return Buffer.concat([head, json]);
}

/** How long a refused HTTP/1.1 connection keeps discarding what the client still sends. */
const LINGER_MS = 2_000;

/**
 * A lingering close: when Node closes the connection after the answer, half-close it and discard
 * what the client is still sending, for at most {@link LINGER_MS}, before destroying it. Closing
 * at once with unread bytes makes the kernel send a reset, and a reset can reach the client before
 * it read the answer, which it then never sees.
 */
function lingerOnClose(socket: net.Socket): void {
  socket.destroySoon = () => {
    socket.end();
    socket.on("data", () => {});
    socket.once("end", () => socket.destroy());
    setTimeout(() => socket.destroy(), LINGER_MS).unref();
  };
}

/** Answers UNAUTHENTICATED in the request's own protocol without reading its body, then drops the rest. */
function refuse(req: http.IncomingMessage | http2.Http2ServerRequest, res: Res, message: string): void {
  const { kind, type } = protocolOf(req);
  const h2 = "stream" in res;
  const grpcHeaders = {
    "content-type": type,
    "grpc-status": "16",
    "grpc-message": encodeURIComponent(message),
  };
  if (kind === "grpc" && h2) {
    // Trailers-only: one HEADERS frame with END_STREAM, then RST_STREAM so the client stops sending.
    const stream = (res as http2.Http2ServerResponse).stream;
    stream.respond({ ":status": 200, ...grpcHeaders }, { endStream: true });
    stream.close();
    return;
  }
  // HTTP/1.1: close the connection rather than read (and discard) what is left of the body.
  const close = h2 ? {} : { connection: "close" };
  if (!h2) lingerOnClose((req as http.IncomingMessage).socket);
  const send = (status: number, headers: Record<string, string>, body?: Buffer | string) => {
    const r = res as http.ServerResponse;
    r.writeHead(status, { ...headers, ...close });
    r.end(body, () => {
      if (h2) (res as http2.Http2ServerResponse).stream.close();
    });
  };
  if (kind === "grpc" || kind === "grpc-web") send(200, grpcHeaders);
  else if (kind === "connect-stream") send(200, { "content-type": type }, connectEndStream(message));
  else
    send(401, { "content-type": "application/json" }, JSON.stringify({ code: "unauthenticated", message }));
}

/**
 * Checks credentials of calls to protected services before the body is read or decompressed:
 * an unauthenticated caller gets UNAUTHENTICATED in its protocol's form (gRPC trailers-only,
 * gRPC-Web headers, Connect end-stream or 401 JSON) and its body is never buffered. The auth
 * interceptor still authenticates every call (and stores the principal); this only moves the
 * refusal before any work.
 */
export function createPreAuthHandler(
  handler: UniversalHandler,
  authenticator: Authenticator,
  options: PreAuthOptions,
): UniversalHandler {
  return (req, res) => {
    const path = req.url ?? "/";
    if (!options.protectedPrefixes.some((prefix) => path.startsWith(prefix))) {
      handler(req, res);
      return;
    }
    // Nobody reads the body until the verdict: a request stream starts paused, so at most its
    // high-water mark is buffered (the rest waits in the socket and HTTP/2 flow control).
    const header = req.headers.authorization;
    authenticator.authenticate(typeof header === "string" ? header : null).then(
      () => handler(req, res),
      (err: unknown) => refuse(req, res, ConnectError.from(err).rawMessage),
    );
  };
}
