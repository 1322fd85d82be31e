import type { SourceOptions as PgSyncOptions } from "@pg-sync/runtime/source-ref";

/** Source options in upstream `pgSync()` form (defined once, in the runtime client package). */
export type SourceOptions = PgSyncOptions;

/** Electric's `replica` parameter. */
export type Replica = "default" | "full";

/** Row operations. */
export type Operation = "insert" | "update" | "delete";

/** All operations, in protocol order. */
export const OPERATIONS: readonly Operation[] = ["insert", "update", "delete"];

/** True when `params` is the positional (array) form. */
export function isPositionalParams(params: SourceOptions["params"]): params is readonly string[] {
  return Array.isArray(params);
}
