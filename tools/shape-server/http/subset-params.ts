/**
 * Subset snapshot parameters (§11): `subset__where`, `subset__params` (a JSON object `{"1": v}`),
 * `subset__limit`, `subset__offset`, `subset__order_by` in the query, or the same keys without
 * the prefix in a POST's JSON body, as Electric's `ServeShapePlug` merges them.
 */
import { PARAM } from "../constants.js";
import { InvalidRequestError } from "../errors.js";

/** A validated subset request (the where clause and order are checked against the table later). */
export interface SubsetRequest {
  /** Extra boolean expression, ANDed with the shape's where. */
  readonly where: string | null;
  /** Values of the subset where's `$1..$n`. */
  readonly params: readonly string[];
  /** `ORDER BY` list. */
  readonly orderBy: string | null;
  /** Maximum rows (≥ 1). */
  readonly limit: number | null;
  /** Rows skipped (≥ 0). */
  readonly offset: number | null;
}

const SUBSET_KEYS = ["where", "params", "limit", "offset", "order_by", "where_expr", "order_by_expr"];

/** The keys of a POST body that are subset parameters (the rest are ordinary query parameters). */
export function isSubsetKey(key: string): boolean {
  return SUBSET_KEYS.includes(key);
}

function subsetError(field: string, message: string): InvalidRequestError {
  return new InvalidRequestError({ subset: { [field]: [message] } });
}

function toParamValue(value: unknown, key: string): string {
  if (typeof value === "string") return value;
  if (typeof value === "number" || typeof value === "bigint" || typeof value === "boolean")
    return String(value);
  throw subsetError("params", `parameter ${key} must be a string`);
}

/** `{"1": "a", "2": 3}` (or its JSON text) → `["a", "3"]`, numbered from 1 without gaps. */
function parseParams(raw: unknown): string[] {
  let value = raw;
  if (typeof raw === "string") {
    try {
      value = JSON.parse(raw);
    } catch {
      throw subsetError("params", "must be a JSON object");
    }
  }
  if (value === undefined || value === null) return [];
  if (Array.isArray(value)) return value.map((v, i) => toParamValue(v, String(i + 1)));
  if (typeof value !== "object") throw subsetError("params", "must be a JSON object");
  const entries = Object.entries(value as Record<string, unknown>);
  const out: string[] = [];
  for (let i = 1; i <= entries.length; i++) {
    const found = entries.find(([key]) => key === String(i));
    if (!found)
      throw subsetError("params", `Parameters must be numbered from 1 without gaps, $${i} is missing`);
    out.push(toParamValue(found[1], String(i)));
  }
  return out;
}

function parseInteger(raw: unknown, field: string, min: number): number | null {
  if (raw === undefined || raw === null || raw === "") return null;
  const n = typeof raw === "number" ? raw : Number(raw);
  if (!Number.isSafeInteger(n)) throw subsetError(field, "is invalid");
  if (n < min)
    throw subsetError(field, min === 1 ? "must be greater than 0" : "must be greater than or equal to 0");
  return n;
}

function optionalText(raw: unknown, field: string): string | null {
  if (raw === undefined || raw === null) return null;
  if (typeof raw !== "string") throw subsetError(field, "is invalid");
  return raw.trim() === "" ? null : raw;
}

/** Builds a subset from raw values keyed without the prefix; null when no subset key is present. */
export function parseSubset(raw: Record<string, unknown>): SubsetRequest | null {
  if (!Object.keys(raw).some(isSubsetKey)) return null;
  const limit = parseInteger(raw.limit, "limit", 1);
  const offset = parseInteger(raw.offset, "offset", 0);
  const orderBy = optionalText(raw.order_by, "order_by");
  if ((limit !== null || offset !== null) && orderBy === null) {
    throw subsetError("order_by", "order_by is required when limit or offset is present");
  }
  return { where: optionalText(raw.where, "where"), params: parseParams(raw.params), orderBy, limit, offset };
}

/** The `subset__*` query parameters, keyed without the prefix. */
export function subsetQueryValues(query: URLSearchParams): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [key, value] of query) {
    if (key.startsWith(PARAM.subsetPrefix)) out[key.slice(PARAM.subsetPrefix.length)] = value;
  }
  return out;
}
