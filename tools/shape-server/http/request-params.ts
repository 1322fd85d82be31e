/** Parsing and validation of `GET /v1/shape` query parameters (§1.2), with Electric's messages. */
import { PARAM } from "../constants.js";
import { type FieldErrors, InvalidRequestError } from "../errors.js";
import { parseColumnList, parseRelation } from "../identifiers.js";
import { type LogOffset, parseOffset } from "../offset.js";
import type { LogMode, ReplicaMode, ShapeDefinition } from "../shapes/shape-definition.js";

/** A validated shape request. */
export interface ShapeRequest {
  /** The shape it addresses (not yet checked against the database). */
  readonly definition: ShapeDefinition;
  /** Requested offset. */
  readonly offset: LogOffset | "now";
  /** Handle, null when absent or when the offset is `-1`/`now` (it is discarded then). */
  readonly handle: string | null;
  /** `live` mode. */
  readonly live: boolean;
  /** SSE live mode. */
  readonly sse: boolean;
  /** The client's last `electric-cursor`, if any. */
  readonly cursor: string | null;
}

const PARAMS_KEY = /^params\[([^\]]*)\]$/;

/** `live`-style booleans: present and not `"false"` counts as true. */
function flag(value: string | null): boolean {
  return value !== null && value !== "false";
}

function addError(errors: FieldErrors, field: string, message: string): void {
  const list = errors[field] ?? [];
  list.push(message);
  errors[field] = list;
}

function parseWhereParams(query: URLSearchParams, errors: FieldErrors): string[] {
  const byIndex = new Map<number, string>();
  for (const [key, value] of query) {
    const match = PARAMS_KEY.exec(key);
    if (!match) continue;
    const index = Number(match[1]);
    if (!Number.isSafeInteger(index) || index < 1 || String(index) !== match[1]) {
      addError(errors, "params", `Invalid parameter name: ${key}`);
      continue;
    }
    byIndex.set(index, value);
  }
  const values: string[] = [];
  for (let i = 1; i <= byIndex.size; i++) {
    const value = byIndex.get(i);
    if (value === undefined) {
      addError(errors, "params", `Parameters must be numbered from 1 without gaps, $${i} is missing`);
      return [];
    }
    values.push(value);
  }
  return values;
}

/** Parses the query; throws {@link InvalidRequestError} listing every invalid field. */
export function parseShapeRequest(query: URLSearchParams): ShapeRequest {
  const errors: FieldErrors = {};

  const tableText = query.get(PARAM.table);
  let relation = { schema: "public", table: "" };
  if (tableText === null || tableText.trim() === "") {
    addError(errors, "table", "can't be blank");
  } else {
    const parsed = parseRelation(tableText);
    if (typeof parsed === "string") addError(errors, "table", parsed);
    else relation = parsed;
  }

  const offsetText = query.get(PARAM.offset);
  let offset: LogOffset | "now" | undefined;
  if (offsetText === null || offsetText === "") addError(errors, "offset", "can't be blank");
  else if (offsetText === "now") offset = "now";
  else {
    offset = parseOffset(offsetText);
    if (!offset) addError(errors, "offset", "has invalid format");
  }
  const initial = offset === "now" || (offset !== undefined && offset.tx < 0n);

  let handle = query.get(PARAM.handle);
  if (initial) handle = null;
  else if (offset !== undefined && (handle === null || handle === "")) {
    addError(errors, "handle", "can't be blank when offset != -1");
  }

  const live = flag(query.get(PARAM.live));
  if (live && offset === "now") addError(errors, "live", "can't be true when offset is 'now'");
  else if (live && offset !== undefined && offset !== "now" && offset.tx < 0n) {
    addError(errors, "live", "can't be true when offset == -1");
  }
  const sseText = query.get(PARAM.liveSse) ?? query.get(PARAM.experimentalLiveSse);
  const sse = flag(sseText);
  if (sse && !live) addError(errors, "live_sse", "can't be true unless live is also true");

  const whereText = query.get(PARAM.where);
  const where = whereText === null || whereText.trim() === "" ? null : whereText;
  const params = parseWhereParams(query, errors);

  let columns: string[] | null = null;
  const columnsText = query.get(PARAM.columns);
  if (columnsText !== null) {
    const parsed = parseColumnList(columnsText);
    if (typeof parsed === "string") addError(errors, "columns", parsed);
    else columns = parsed;
  }

  const replica = query.get(PARAM.replica) ?? "default";
  if (replica !== "default" && replica !== "full") addError(errors, "replica", "is invalid");
  const log = query.get(PARAM.log) ?? "full";
  if (log !== "full" && log !== "changes_only") addError(errors, "log", "is invalid");

  if (Object.keys(errors).length > 0) throw new InvalidRequestError(errors);
  return {
    definition: {
      relation,
      where,
      params,
      columns,
      replica: replica as ReplicaMode,
      log: log as LogMode,
    },
    offset: offset!,
    handle,
    live,
    sse,
    cursor: query.get(PARAM.cursor),
  };
}
