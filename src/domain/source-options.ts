import type { SourceOptions as PgSyncOptions } from "@pg-sync/runtime/source-ref";

/** Source options in upstream `pgSync()` form (defined once, in the runtime client package). */
export type SourceOptions = PgSyncOptions;

/** Electric's `replica` parameter. */
export type Replica = "default" | "full";

/** All row operations, in protocol order: the one declaration of them. */
export const OPERATIONS = ["insert", "update", "delete"] as const;

/** Row operations. */
export type Operation = (typeof OPERATIONS)[number];

/** {@link OPERATIONS} as a set, for membership tests on untrusted strings. */
export const OPERATION_SET: ReadonlySet<string> = new Set(OPERATIONS);

/** True when `value` names a row operation. */
export function isOperation(value: unknown): value is Operation {
  return typeof value === "string" && OPERATION_SET.has(value);
}

/** True when `params` is the positional (array) form. */
export function isPositionalParams(params: SourceOptions["params"]): params is readonly string[] {
  return Array.isArray(params);
}
