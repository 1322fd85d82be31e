import { randomBytes } from "node:crypto";
import type { Message, Row, ShapeStreamOptions } from "@electric-sql/client";
import { ELECTRIC_HEADERS } from "./electric-constants.js";

/**
 * Bodies from which the Electric client is handed a lean copy (bench STALL, P1). Smaller bodies
 * (a live long-poll's few changes, an up-to-date) go to the client unchanged: there the client's
 * own parse costs microseconds.
 */
export const LEAN_MIN_BYTES = 16 * 1024;

/** Responses read ahead (client prefetch, pipelined request) whose full messages are kept. */
const KEPT_BODIES_MAX = 8;

/** The client's per-type value parsers (its `Parser`, not exported by name). */
type Parser = NonNullable<ShapeStreamOptions<unknown>["parser"]>;
type Value = string | null;
type ColumnParser = (value: Value) => unknown;
type Columns = ReadonlyMap<string, ColumnParser>;

/** The Electric client's own type parsers (its `defaultParser`, not exported), by Postgres type. */
const CLIENT_DEFAULT_PARSER: Parser = {
  int2: (v: string) => Number(v),
  int4: (v: string) => Number(v),
  int8: (v: string) => BigInt(v),
  bool: (v: string) => v === "true" || v === "t",
  float4: (v: string) => Number(v),
  float8: (v: string) => Number(v),
  json: (v: string) => JSON.parse(v),
  jsonb: (v: string) => JSON.parse(v),
};

/** A null in a NOT NULL column: the client would throw; the body goes to it unchanged. */
class NotNullError extends Error {}

/**
 * The per-column parsers of an `electric-schema` header, as the Electric client applies them
 * (type parser, or the value unchanged; null kept, or refused in a NOT NULL column). Undefined for
 * a schema this module does not parse the client's way (array columns, a malformed header): such
 * bodies go to the client unchanged.
 */
function compileColumns(header: string, parser: Parser): Columns | undefined {
  let schema: unknown;
  try {
    schema = JSON.parse(header);
  } catch {
    return undefined;
  }
  if (typeof schema !== "object" || schema === null || Array.isArray(schema)) return undefined;
  const columns = new Map<string, ColumnParser>();
  for (const [name, info] of Object.entries(schema as Record<string, unknown>)) {
    if (typeof info !== "object" || info === null) return undefined;
    const { type, dims, not_null: notNull } = info as { type?: unknown; dims?: unknown; not_null?: unknown };
    if (typeof type !== "string" || (dims !== undefined && dims !== 0)) return undefined;
    const parse = Object.hasOwn(parser, type) ? parser[type] : undefined;
    columns.set(name, (value) => {
      if (value === null) {
        if (notNull) throw new NotNullError(name); // the client's test: `not_null` truthy
        return null;
      }
      return parse ? parse(value) : value;
    });
  }
  return columns;
}

/** Parses a row's values in place, as the client's reviver does for `value` and `old_value`. */
function parseRow(row: Record<string, unknown>, columns: Columns): void {
  for (const name of Object.keys(row)) {
    const parse = columns.get(name);
    if (parse) row[name] = parse(row[name] as Value);
  }
}

/** A change message as the client sees it: a string key, headers, no control header. */
function isChange(message: unknown): message is { key: string; headers: Record<string, unknown> } {
  if (typeof message !== "object" || message === null) return false;
  const { key, headers } = message as { key?: unknown; headers?: unknown };
  return (
    typeof key === "string" && typeof headers === "object" && headers !== null && !("control" in headers)
  );
}

/** An `lsn` header the client converts with `BigInt` without throwing (or none). */
const CLIENT_LSN = /^[0-9]+$/;

/** Parses a change's row values in place; false when its `lsn` header would make the client throw. */
function parseChange(message: { headers: Record<string, unknown> }, columns: Columns): boolean {
  const { lsn } = message.headers;
  if (lsn !== undefined && (typeof lsn !== "string" || !CLIENT_LSN.test(lsn))) return false;
  const { value, old_value: oldValue } = message as { value?: unknown; old_value?: unknown };
  if (typeof value === "object" && value !== null) parseRow(value as Record<string, unknown>, columns);
  if (typeof oldValue === "object" && oldValue !== null)
    parseRow(oldValue as Record<string, unknown>, columns);
  return true;
}

/** Runs of consecutive changes of one body, numbered from `first`. */
interface KeptBody {
  readonly first: number;
  readonly runs: unknown[][];
}

/**
 * `messages` with each run of consecutive changes (their values parsed in place) replaced by one
 * change marked `mark: n`, runs numbered from `first`; undefined when the client must see the body
 * unchanged (a value or `lsn` it would refuse, or no change at all).
 */
function splitRuns(
  messages: readonly unknown[],
  columns: Columns,
  mark: string,
  first: number,
): (KeptBody & { lean: unknown[] }) | undefined {
  const runs: unknown[][] = [];
  const lean: unknown[] = [];
  let run: unknown[] | undefined;
  try {
    for (const message of messages) {
      if (!isChange(message)) {
        run = undefined;
        lean.push(message);
        continue;
      }
      if (!parseChange(message, columns)) return undefined;
      const { operation, lsn } = message.headers;
      if (run) {
        run.push(message);
        if (lsn !== undefined) (lean.at(-1) as { headers: { lsn?: unknown } }).headers.lsn = lsn;
        continue;
      }
      run = [message];
      lean.push({ key: message.key, headers: { operation, lsn }, [mark]: first + runs.length });
      runs.push(run);
    }
  } catch {
    return undefined; // a value the client would refuse: it does, from the unchanged body
  }
  return runs.length === 0 ? undefined : { first, runs, lean };
}

/**
 * Hands the Electric client a lean copy of each large shape-log body, and gives back the full
 * messages once the client has published them.
 *
 * Why: the client parses a body with a `JSON.parse` reviver, which costs V8 about six times a
 * plain parse (30,000 changes: 330–400 ms against 45–60 ms, bench STALL). This module parses the
 * body plainly and the row values with the client's type parsers and the response's
 * `electric-schema`, and hands the client the body with each run of consecutive changes replaced
 * by one marked change (the run's first key and operation, its last `lsn`). The control messages
 * stay as they are and in place. {@link LeanBodies.restore} puts each run back in its marked
 * change's place.
 *
 * What the client does per change otherwise: checks it against the snapshots requested with
 * `requestSnapshot` (keys and txids) and records its `lsn` as seen. The bridge's streams never
 * request a snapshot (only {@link shapeBatches} holds them), and the run's last `lsn` is the
 * newest seen. The mark's name holds a random nonce, so a body from the network cannot forge one.
 *
 * Anything the client would parse its own way or refuse (not a JSON array, an array column, a
 * null in a NOT NULL column, an `lsn` that is not a number, a malformed schema) goes to it
 * unchanged, and fails or succeeds as it always did.
 */
export interface LeanBodies {
  /** `base` with large shape-log bodies made lean. */
  readonly fetch: typeof fetch;
  /** The published `messages` with each marked change replaced by the run of changes it stands for. */
  restore(messages: Message<Row<unknown>>[]): Message<Row<unknown>>[];
}

/** {@link LeanBodies} over `base`, parsing values with `parser` over the client's defaults. */
export function createLeanBodies(
  base: typeof fetch,
  parser: Parser = {},
  minBytes = LEAN_MIN_BYTES,
): LeanBodies {
  const merged: Parser = { ...CLIENT_DEFAULT_PARSER, ...parser };
  const mark = `pgsync-${randomBytes(6).toString("hex")}`;
  const kept: KeptBody[] = [];
  let nextRun = 0;
  let schema: { handle: string | null; columns: Columns | undefined } | undefined;

  // The client takes a shape's schema from its first response and keeps it for the handle.
  const columnsFor = (headers: Headers): Columns | undefined => {
    const handle = headers.get(ELECTRIC_HEADERS.handle);
    if (schema === undefined || handle !== schema.handle) {
      const header = headers.get(ELECTRIC_HEADERS.schema);
      schema = header === null ? undefined : { handle, columns: compileColumns(header, merged) };
    }
    return schema?.columns;
  };

  /** The lean body of `messages` (its runs kept for restore), or undefined to hand it unchanged. */
  const leanOf = (messages: unknown[], columns: Columns): unknown[] | undefined => {
    const body = splitRuns(messages, columns, mark, nextRun);
    if (!body) return undefined;
    nextRun += body.runs.length;
    kept.push({ first: body.first, runs: body.runs });
    if (kept.length > KEPT_BODIES_MAX) kept.shift();
    return body.lean;
  };

  const leanText = (text: string, columns: Columns): string | undefined => {
    if (text.length < minBytes || !/^\s*\[/.test(text)) return undefined;
    let messages: unknown;
    try {
      messages = JSON.parse(text);
    } catch {
      return undefined;
    }
    const lean = Array.isArray(messages) ? leanOf(messages, columns) : undefined;
    return lean && JSON.stringify(lean);
  };

  const leanFetch: typeof fetch = async (input, init) => {
    const response = await base(input, init);
    const columns = columnsFor(response.headers);
    if (response.status !== 200 || !columns || !response.body) return response;
    // A body known to be small (an idle long-poll's up-to-date) is not even read here.
    const length = Number(response.headers.get(ELECTRIC_HEADERS.contentLength) ?? Number.NaN);
    if (length < minBytes) return response;
    let text: string;
    try {
      text = await response.text();
    } catch (error) {
      // The client reads the body itself and reports a failed read its own way: let it.
      const failing = new ReadableStream({ start: (controller) => controller.error(error) });
      return new Response(failing, response);
    }
    return new Response(leanText(text, columns) ?? text, response);
  };

  const runAt = (at: number): unknown[] => {
    const body = kept.find((b) => at >= b.first && at < b.first + b.runs.length);
    if (!body) throw new Error(`a lean Electric body was published after ${KEPT_BODIES_MAX} more were read`);
    return body.runs[at - body.first] as unknown[];
  };

  return {
    fetch: leanFetch,
    restore: (messages) => {
      let last = -1;
      const restored: unknown[] = [];
      for (const message of messages) {
        const at = (message as Record<string, unknown>)[mark];
        if (typeof at !== "number") {
          restored.push(message);
          continue;
        }
        last = at;
        for (const change of runAt(at)) restored.push(change);
      }
      // A body is published whole and in order: it and the ones before it are done with.
      while (kept.length > 0 && (kept[0] as KeptBody).first <= last) kept.shift();
      return restored as Message<Row<unknown>>[];
    },
  };
}
