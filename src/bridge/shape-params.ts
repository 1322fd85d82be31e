import type { CanonicalSourceOptions } from "../domain/source-ref.js";
import { ELECTRIC_PARAMS } from "./electric-constants.js";

/** Shape definition params as the Electric client's `params` option takes them. */
export interface ShapeParams {
  table: string;
  columns?: string[];
  where?: string;
  params?: string[] | Record<string, string>;
  replica: "default" | "full";
}

/**
 * The shape definition of a source. Every request for the source (probe, first stream, resumes)
 * uses exactly these params and the same log mode, so they always address the same shape.
 */
export function shapeParamsFor(options: CanonicalSourceOptions): ShapeParams {
  return {
    table: options.table,
    ...(options.columns ? { columns: [...options.columns] } : {}),
    ...(options.where !== undefined ? { where: options.where } : {}),
    ...(options.params !== undefined
      ? { params: Array.isArray(options.params) ? [...options.params] : { ...options.params } }
      : {}),
    replica: options.replica,
  };
}

/** Quotes a column name the way the Electric client does, so probe and stream define one shape. */
function quoteIdentifier(name: string): string {
  return `"${name.replace(/"/g, '""')}"`;
}

/**
 * Sets the shape definition on `url` exactly as the Electric client encodes it (quoted columns,
 * `params[n]` keys), for requests made without the client (the registration probe).
 */
export function applyShapeParams(url: URL, params: ShapeParams, log: "full" | "changes_only"): URL {
  url.searchParams.set(ELECTRIC_PARAMS.table, params.table);
  if (params.where !== undefined) url.searchParams.set(ELECTRIC_PARAMS.where, params.where);
  if (params.columns)
    url.searchParams.set(ELECTRIC_PARAMS.columns, params.columns.map(quoteIdentifier).join(","));
  url.searchParams.set(ELECTRIC_PARAMS.replica, params.replica);
  if (params.params) {
    const entries = Array.isArray(params.params)
      ? params.params.map((v, i) => [String(i + 1), v] as const)
      : Object.entries(params.params);
    for (const [k, v] of entries) url.searchParams.set(`${ELECTRIC_PARAMS.params}[${k}]`, v);
  }
  url.searchParams.set(ELECTRIC_PARAMS.log, log);
  return url;
}
