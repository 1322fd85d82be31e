import { type Client, createClient, type Interceptor, type Transport } from "@connectrpc/connect";
import { createConnectTransport } from "@connectrpc/connect-node";
import type { Cursor } from "../gen/pgsync/v1/cursor_pb.js";
import { PgSyncService } from "../gen/pgsync/v1/pg_sync_service_pb.js";
import type { Source } from "../gen/pgsync/v1/source_pb.js";
import { toProtoOptions } from "./options.js";
import type { PgSyncSource } from "./pg-sync.js";
import type { SourceOptions } from "./source-ref.js";
import { type WakeStream, type WatchWakesOptions, watchWakes } from "./watch.js";

/** Options of {@link createPgSyncClient}. */
export interface PgSyncClientOptions {
  /** pg-sync's base URL, e.g. `http://127.0.0.1:50051`. Ignored when `transport` is given. */
  readonly baseUrl?: string | undefined;
  /** Bearer token (sent as `authorization: Bearer <token>`). */
  readonly token?: string | undefined;
  /** A Connect transport of your own (gRPC, gRPC-Web, in-memory...). */
  readonly transport?: Transport | undefined;
}

/** Result of registering a source. */
export interface RegisteredSource {
  readonly sourceRef: string;
  readonly created: boolean;
  readonly source: Source;
}

/** The pg-sync client. */
export interface PgSyncClient {
  /** Registers (idempotently) a source; accepts upstream options or a {@link PgSyncSource}. */
  registerSource(source: SourceOptions | PgSyncSource): Promise<RegisteredSource>;
  getSource(sourceRef: string): Promise<Source>;
  /** One page of sources. */
  listSources(page?: {
    pageSize?: number | undefined;
    pageToken?: string | undefined;
  }): Promise<{ sources: Source[]; nextPageToken: string }>;
  /** Every source, following page tokens. */
  allSources(): AsyncGenerator<Source>;
  deleteSource(sourceRef: string): Promise<void>;
  getCursor(sourceRef: string): Promise<Cursor>;
  /** Resuming WatchWakes stream (see {@link watchWakes}). */
  watchWakes(options: WatchWakesOptions): WakeStream;
  /** The underlying generated client, for anything else. */
  readonly raw: Client<typeof PgSyncService>;
}

function bearer(token: string): Interceptor {
  return (next) => (req) => {
    req.header.set("authorization", `Bearer ${token}`);
    return next(req);
  };
}

function isPgSyncSource(value: SourceOptions | PgSyncSource): value is PgSyncSource {
  return "sourceRef" in value && "canonical" in value;
}

/** Creates a client over Connect (HTTP/2) to `baseUrl`, or over your `transport`. */
export function createPgSyncClient(options: PgSyncClientOptions): PgSyncClient {
  let transport = options.transport;
  if (!transport) {
    if (!options.baseUrl) throw new TypeError("createPgSyncClient: baseUrl or transport is required");
    transport = createConnectTransport({
      baseUrl: options.baseUrl,
      httpVersion: "2",
      interceptors: options.token ? [bearer(options.token)] : [],
    });
  }
  const raw = createClient(PgSyncService, transport);
  return {
    raw,
    async registerSource(source) {
      const opts = isPgSyncSource(source) ? source.options : source;
      const res = await raw.registerSource({ options: toProtoOptions(opts) });
      if (!res.source) throw new Error("RegisterSource returned no source");
      return { sourceRef: res.sourceRef, created: res.created, source: res.source };
    },
    async getSource(sourceRef) {
      const res = await raw.getSource({ sourceRef });
      if (!res.source) throw new Error("GetSource returned no source");
      return res.source;
    },
    async listSources(page = {}) {
      const res = await raw.listSources({ pageSize: page.pageSize ?? 0, pageToken: page.pageToken ?? "" });
      return { sources: res.sources, nextPageToken: res.nextPageToken };
    },
    async *allSources() {
      let pageToken = "";
      do {
        const res = await raw.listSources({ pageToken });
        yield* res.sources;
        pageToken = res.nextPageToken;
      } while (pageToken);
    },
    async deleteSource(sourceRef) {
      await raw.deleteSource({ sourceRef });
    },
    async getCursor(sourceRef) {
      const res = await raw.getCursor({ sourceRef });
      if (!res.cursor) throw new Error("GetCursor returned no cursor");
      return res.cursor;
    },
    watchWakes(watchOptions) {
      return watchWakes(raw, watchOptions);
    },
  };
}
