/**
 * Fixtures of the shape-server tests: a database of its own with a running shape server, raw HTTP
 * helpers, and a recorder around the official `ShapeStream`.
 */
import {
  type ChangeMessage,
  type GetExtensions,
  isChangeMessage,
  isControlMessage,
  type Message,
  type Row,
  ShapeStream,
  type ShapeStreamOptions,
} from "@electric-sql/client";
import pg from "pg";
import {
  type ShapeServer,
  type ShapeServerOptions,
  startShapeServer,
} from "../../../tools/shape-server/server.js";
import { createTestDatabase, type TestDatabase } from "../../support/db.js";
import { waitFor } from "../../support/wait.js";

/** Long-poll timeout used by the tests (short, so live timeouts are quick). */
export const TEST_LONG_POLL_MS = 1_500;

/** A database with a shape server on it. */
export interface ShapeFixture {
  readonly db: TestDatabase;
  /** Pool on the test database. */
  readonly sql: pg.Pool;
  server: ShapeServer;
  /** `<server url>/v1/shape`. */
  readonly shapeUrl: string;
  /** Restarts the server on the same database (same port), as a crash-free restart would. */
  restart(options?: Partial<ShapeServerOptions>): Promise<void>;
  /** Stops everything and drops the database. */
  close(): Promise<void>;
}

/** Starts a database and a shape server with test controls and a short long-poll timeout. */
export async function startFixture(
  prefix: string,
  options: Partial<ShapeServerOptions> = {},
): Promise<ShapeFixture> {
  const db = await createTestDatabase(prefix);
  const sql = new pg.Pool({ connectionString: db.url, max: 4 });
  const base: ShapeServerOptions = {
    databaseUrl: db.url,
    port: 0,
    longPollTimeoutMs: TEST_LONG_POLL_MS,
    testControls: true,
    ...options,
  };
  let server = await startShapeServer(base);
  await server.ready();
  const fixture: ShapeFixture = {
    db,
    sql,
    server,
    get shapeUrl() {
      return `${server.url}/v1/shape`;
    },
    async restart(more = {}) {
      const port = server.port;
      await server.close();
      server = await startShapeServer({ ...base, port, ...more });
      fixture.server = server;
      await server.ready();
    },
    async close() {
      await server.close();
      await dropSlots(sql);
      await sql.end();
      await db.drop();
    },
  };
  return fixture;
}

/** Drops the database's replication slots (a database with slots cannot be dropped). */
export async function dropSlots(sql: pg.Pool): Promise<void> {
  await waitFor(
    async () => {
      const res = await sql.query(
        `SELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots
         WHERE database = current_database() AND NOT active`,
      );
      const left = await sql.query("SELECT 1 FROM pg_replication_slots WHERE database = current_database()");
      return left.rows.length === 0 || res.rowCount === -1 || undefined;
    },
    { what: "replication slots to be released", timeoutMs: 15_000 },
  );
}

/**
 * Creates the SELECT-only role `shape_reader` (cluster-wide, once) that a fixture started with
 * `queryRole: "shape_reader"` runs where clauses as, and grants it SELECT on the tables the test
 * creates afterwards in `public`.
 */
export async function createQueryRole(fx: ShapeFixture): Promise<void> {
  await fx.sql.query(`
    DO $$ BEGIN CREATE ROLE shape_reader NOLOGIN;
    EXCEPTION WHEN duplicate_object OR unique_violation THEN NULL; END $$;
    GRANT USAGE ON SCHEMA public TO shape_reader;
    ALTER DEFAULT PRIVILEGES IN SCHEMA public GRANT SELECT ON TABLES TO shape_reader;
  `);
}

/** A raw HTTP response with its parsed JSON body. */
export interface RawResponse {
  readonly status: number;
  readonly headers: Headers;
  readonly text: string;
  /** Parsed body (undefined when not JSON). */
  readonly body: unknown;
}

/** Builds a shape URL from parameters (`params` entries become `params[N]`). */
export function buildUrl(base: string, params: Record<string, string | undefined>): string {
  const url = new URL(base);
  for (const [key, value] of Object.entries(params))
    if (value !== undefined) url.searchParams.set(key, value);
  return url.toString();
}

/** Plain fetch of a shape URL. */
export async function rawGet(
  base: string,
  params: Record<string, string | undefined>,
  init: RequestInit = {},
): Promise<RawResponse> {
  const res = await fetch(buildUrl(base, params), init);
  const text = await res.text();
  let body: unknown;
  try {
    body = text === "" ? undefined : JSON.parse(text);
  } catch {
    body = undefined;
  }
  return { status: res.status, headers: res.headers, text, body };
}

/** Messages of a body, typed loosely for assertions. */
export type AnyMessage = {
  key?: string;
  value?: Record<string, unknown>;
  old_value?: Record<string, unknown>;
  headers: Record<string, unknown>;
};

/** The body as a message array. */
export function messagesOf(res: RawResponse): AnyMessage[] {
  if (!Array.isArray(res.body)) throw new Error(`body is not an array: ${res.text}`);
  return res.body as AnyMessage[];
}

/** Change messages only. */
export function changesOf(res: RawResponse): AnyMessage[] {
  return messagesOf(res).filter((m) => m.key !== undefined);
}

/** Reads a shape from `-1` until up-to-date; returns handle, offset and the change messages. */
export async function syncToUpToDate(
  base: string,
  params: Record<string, string | undefined>,
): Promise<{ handle: string; offset: string; changes: AnyMessage[]; responses: RawResponse[] }> {
  let offset = "-1";
  let handle: string | undefined;
  const changes: AnyMessage[] = [];
  const responses: RawResponse[] = [];
  for (let i = 0; i < 1000; i++) {
    const res = await rawGet(base, { ...params, offset, handle });
    if (res.status !== 200) throw new Error(`status ${res.status}: ${res.text}`);
    responses.push(res);
    handle = res.headers.get("electric-handle")!;
    offset = res.headers.get("electric-offset")!;
    changes.push(...changesOf(res));
    if (res.headers.has("electric-up-to-date")) return { handle, offset, changes, responses };
  }
  throw new Error("never up to date");
}

/** Records what a `ShapeStream` delivers. */
export class StreamRecorder<T extends Row<unknown> = Row> {
  /** The stream. */
  readonly stream: ShapeStream<T>;
  /** Every message, in order. */
  readonly messages: Message<T>[] = [];
  /** Errors passed to `onError`. */
  readonly errors: unknown[] = [];
  /** Number of up-to-date messages seen. */
  upToDates = 0;
  /** Number of must-refetch messages seen. */
  mustRefetches = 0;
  readonly #aborter = new AbortController();

  constructor(
    options: Omit<ShapeStreamOptions<GetExtensions<T>>, "signal" | "onError">,
    onError?: (err: unknown) => void,
  ) {
    this.stream = new ShapeStream<T>({
      ...options,
      signal: this.#aborter.signal,
      onError: (err) => {
        this.errors.push(err);
        onError?.(err);
      },
    });
    this.stream.subscribe((batch) => {
      for (const message of batch) {
        this.messages.push(message);
        if (isControlMessage(message)) {
          if (message.headers.control === "up-to-date") this.upToDates++;
          if (message.headers.control === "must-refetch") this.mustRefetches++;
        }
      }
    });
  }

  /** Change messages, in order. */
  get changes(): ChangeMessage<T>[] {
    return this.messages.filter((m): m is ChangeMessage<T> => isChangeMessage(m));
  }

  /** Waits until the predicate holds. */
  async until(check: (r: this) => boolean, what: string, timeoutMs = 15_000): Promise<void> {
    await waitFor(() => check(this) || undefined, { what, timeoutMs });
  }

  /** Waits for `n` change messages in total. */
  async untilChanges(n: number, timeoutMs = 15_000): Promise<ChangeMessage<T>[]> {
    await this.until((r) => r.changes.length >= n, `${n} change messages`, timeoutMs);
    return this.changes;
  }

  /** Stops the stream (abort: unsubscribe alone keeps fetching). */
  stop(): void {
    this.#aborter.abort();
  }
}
