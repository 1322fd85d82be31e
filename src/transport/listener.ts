import http from "node:http";
import http2 from "node:http2";
import net from "node:net";

/** A request handler for both HTTP/1.1 and HTTP/2 requests (e.g. connectNodeAdapter's). */
export type UniversalHandler = (
  req: http.IncomingMessage | http2.Http2ServerRequest,
  res: http.ServerResponse | http2.Http2ServerResponse,
) => void;

/** Plain HTTP routes (GET and HEAD) served beside the RPC handler, e.g. `/metrics`. */
export type HttpRoute = (
  req: http.IncomingMessage | http2.Http2ServerRequest,
  res: http.ServerResponse | http2.Http2ServerResponse,
) => void;

/** Options of {@link createOnePortServer}. */
export interface OnePortOptions {
  readonly httpRoutes?: Readonly<Record<string, HttpRoute>>;
  /** Connection limits (issue 12); Node's defaults when absent. */
  readonly limits?: ConnectionLimits;
}

/** Limits applied before any request is handled; see docs/security.md. */
export interface ConnectionLimits {
  /** Most concurrent streams per HTTP/2 connection (advertised in SETTINGS). */
  readonly h2MaxConcurrentStreams: number;
  /** Memory an HTTP/2 session may use, in MiB; past it new streams are refused. */
  readonly h2MaxSessionMemoryMb: number;
  /** Close a connection with no open request for this long; 0 never. */
  readonly idleTimeoutMs: number;
  /** Most open TCP connections; more are closed on accept. */
  readonly maxConnections: number;
}

/** A listener serving HTTP/1.1 and cleartext HTTP/2 (h2c, prior knowledge) on one port. */
export interface OnePortServer {
  listen(host: string, port: number): Promise<{ host: string; port: number }>;
  /**
   * Graceful close: stop accepting, send GOAWAY to every HTTP/2 session and close idle HTTP/1.1
   * connections, wait up to `graceMs` for in-flight calls, then destroy what is left.
   */
  close(graceMs: number): Promise<void>;
}

/** The HTTP/2 connection preface a prior-knowledge h2c client sends first. */
const H2_PREFACE = Buffer.from("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n");

/** How long a new connection may stay silent before it is dropped (slowloris guard). */
const FIRST_BYTES_TIMEOUT_MS = 10_000;

/**
 * Routes each new connection by its first bytes: the HTTP/2 preface to `h2`, anything else to
 * `h1`, with the bytes put back first. Tracks open sockets in `sockets` (for graceful close).
 */
function prefaceRouter(
  h1: http.Server,
  h2: http2.Http2Server,
  sockets: Set<net.Socket>,
): (socket: net.Socket) => void {
  return (socket) => {
    sockets.add(socket);
    socket.once("close", () => sockets.delete(socket));
    socket.on("error", () => socket.destroy());
    socket.setTimeout(FIRST_BYTES_TIMEOUT_MS, () => socket.destroy());
    // Read in paused mode ('readable' + read()), never 'data': bytes unshifted onto a flowing
    // socket are not seen by the http2 session.
    let seen = Buffer.alloc(0);
    const onReadable = () => {
      for (
        let chunk = socket.read() as Buffer | null;
        chunk !== null;
        chunk = socket.read() as Buffer | null
      ) {
        seen = Buffer.concat([seen, chunk]);
      }
      const n = Math.min(seen.length, H2_PREFACE.length);
      if (n === 0) return;
      const isH2 = seen.subarray(0, n).equals(H2_PREFACE.subarray(0, n));
      if (isH2 && seen.length < H2_PREFACE.length) return; // wait for the whole preface
      socket.removeListener("readable", onReadable);
      socket.setTimeout(0);
      socket.unshift(seen);
      (isH2 ? h2 : h1).emit("connection", socket);
    };
    socket.on("readable", onReadable);
  };
}

/** The HTTP/1.1 and HTTP/2 servers behind the one port, with the connection limits applied. */
function createHttpServers(dispatch: UniversalHandler, limits: OnePortOptions["limits"]) {
  const h1 = http.createServer(dispatch as http.RequestListener);
  const h2 = http2.createServer(
    limits
      ? {
          maxSessionMemory: limits.h2MaxSessionMemoryMb,
          settings: { maxConcurrentStreams: limits.h2MaxConcurrentStreams },
        }
      : {},
    dispatch as (req: http2.Http2ServerRequest, res: http2.Http2ServerResponse) => void,
  );
  if (limits && limits.idleTimeoutMs > 0) {
    h1.keepAliveTimeout = Math.min(h1.keepAliveTimeout, limits.idleTimeoutMs);
  }
  return { h1, h2 };
}

/**
 * One port for every protocol: gRPC needs HTTP/2, gRPC-Web and Connect also work over HTTP/1.1.
 * Node's http2 server only negotiates HTTP/1.1 through TLS ALPN, so for cleartext we read the
 * first bytes of each connection: the HTTP/2 preface goes to the http2 server, anything else to
 * the http server, with the bytes put back before either sees the socket.
 */
export function createOnePortServer(handler: UniversalHandler, options: OnePortOptions = {}): OnePortServer {
  const routes = options.httpRoutes ?? {};
  const dispatch: UniversalHandler = (req, res) => {
    const path = (req.url ?? "/").split("?")[0]!;
    const route = routes[path];
    if (route && (req.method === "GET" || req.method === "HEAD")) route(req, res);
    else handler(req, res);
  };
  const limits = options.limits;
  const { h1, h2 } = createHttpServers(dispatch, limits);
  const sockets = new Set<net.Socket>();
  const sessions = new Set<http2.ServerHttp2Session>();
  let closing = false;
  h2.on("session", (session) => {
    sessions.add(session);
    session.once("close", () => sessions.delete(session));
    if (closing) session.close();
    if (limits && limits.idleTimeoutMs > 0) closeWhenIdle(session, limits.idleTimeoutMs);
  });

  const route = prefaceRouter(h1, h2, sockets);
  const server = net.createServer({ noDelay: true }, route);
  if (limits) server.maxConnections = limits.maxConnections;

  return {
    listen(host, port) {
      return new Promise((resolve, reject) => {
        server.once("error", reject);
        server.listen(port, host, () => {
          server.removeListener("error", reject);
          const address = server.address() as net.AddressInfo;
          resolve({ host: address.address, port: address.port });
        });
      });
    },
    async close(graceMs) {
      closing = true;
      const stopped = new Promise<void>((resolve) => server.close(() => resolve()));
      for (const session of sessions) session.close();
      const deadline = Date.now() + graceMs;
      while (sockets.size > 0 && Date.now() < deadline) {
        h1.closeIdleConnections();
        await new Promise((r) => setTimeout(r, 25));
      }
      for (const socket of sockets) socket.destroy();
      await stopped;
    },
  };
}

/** What a text route serves: a body produced on demand and its content type (a Prometheus registry fits). */
export interface TextSource {
  /** The body. */
  metrics(): Promise<string>;
  /** The body's content type. */
  readonly contentType: string;
}

/**
 * A GET/HEAD route serving `source` (e.g. `/metrics` from a Prometheus registry); 500 when it
 * fails. HEAD answers the same status and headers without the body.
 */
export function createTextRoute(source: TextSource): HttpRoute {
  return (req, response) => {
    const res = response as http.ServerResponse;
    source
      .metrics()
      .then((text) => {
        res.writeHead(200, {
          "content-type": source.contentType,
          "content-length": Buffer.byteLength(text),
        });
        res.end(req.method === "HEAD" ? undefined : text);
      })
      .catch(() => {
        res.writeHead(500);
        res.end();
      });
  };
}

/**
 * Closes (GOAWAY) an HTTP/2 session that has had no open stream for `idleMs`. Long-lived streams
 * (WatchWakes, Health.Watch) keep their session open however quiet they are.
 */
function closeWhenIdle(session: http2.ServerHttp2Session, idleMs: number): void {
  let open = 0;
  let timer: NodeJS.Timeout | undefined;
  const arm = () => {
    timer = setTimeout(() => session.close(), idleMs);
    timer.unref();
  };
  session.on("stream", (stream: http2.ServerHttp2Stream) => {
    open++;
    clearTimeout(timer);
    stream.once("close", () => {
      if (--open === 0 && !session.closed) arm();
    });
  });
  session.once("close", () => clearTimeout(timer));
  arm();
}
