/**
 * Source options in upstream `pgSync()` form: the domain's view, free of proto types. `params` is
 * either a positional list or a numbered map, exactly as upstream accepts them, because the two
 * forms hash differently.
 */
export interface SourceOptions {
  /** Electric shape endpoint; absent means the server default (and is left out of the hash). */
  readonly url?: string;
  /** Table: `name`, `schema.name` or quoted identifiers. */
  readonly table: string;
  /** Columns, order kept; absent or empty means all columns. */
  readonly columns?: readonly string[];
  /** Row filter with `$n` placeholders. */
  readonly where?: string;
  /** Placeholder values: positional list or numbered map. */
  readonly params?: readonly string[] | Readonly<Record<string, string>>;
  /** Update/delete payload mode; absent means `default`. */
  readonly replica?: Replica;
  /** Identity metadata (hashed with the #4576 rule). */
  readonly metadata?: Readonly<Record<string, string>>;
}

/** Electric's `replica` parameter. */
export type Replica = "default" | "full";

/** Row operations. */
export type Operation = "insert" | "update" | "delete";

/** All operations, in protocol order. */
export const OPERATIONS: readonly Operation[] = ["insert", "update", "delete"];

/** True when `params` is the positional (array) form. */
export function isPositionalParams(
  params: SourceOptions["params"],
): params is readonly string[] {
  return Array.isArray(params);
}
