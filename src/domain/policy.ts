import {
  ColumnNotAllowedError,
  InvalidSourceOptionsError,
  SourceNotFoundError,
  TableNotAllowedError,
} from "./errors.js";
import { isReservedSchema, parseRelation, type Relation } from "./relation.js";
import { applyRowFilter, bindRowFilter, type FilterSubject, type RowFilterTemplate } from "./row-filter.js";
import type { SourceOptions } from "./source-options.js";

/** One table entry of a tenant rule. */
export interface TableRule {
  /** The entry as written in the policy (for messages). */
  readonly table: string;
  /** Schema, case folded as Postgres reads it. */
  readonly schema: string;
  /** Table, case folded; undefined for `schema.*` (every table of the schema). */
  readonly name: string | undefined;
  /** Columns the tenant may select; undefined for all. */
  readonly columns: readonly string[] | undefined;
  /** Row filter ANDed into every source on the table; undefined for none. */
  readonly rowFilter: RowFilterTemplate | undefined;
}

/** The tables one tenant (or tenant pattern) may observe. */
export interface TenantRule {
  /** The tenant name or glob pattern as written (`*` any run, `?` one character). */
  readonly tenant: string;
  /** True when the rule applies to `tenant`. */
  readonly matches: (tenant: string) => boolean;
  /** Table entries, first match wins. */
  readonly tables: readonly TableRule[];
}

/** An authorization policy (PGSYNC_POLICY_FILE): tenant rules, first match wins. */
export interface Policy {
  readonly tenants: readonly TenantRule[];
}

/** Who is asking: the tenant and, for JWT callers, the token's claims. */
export type Caller = FilterSubject;

/** What a caller may register: the options the bridge must request, and the filter's identity. */
export interface AuthorizedSource {
  /** The options to store, hash and request: the caller's, with the row filter ANDed in. */
  readonly options: SourceOptions;
  /** Identity of the bound row filter (policy clause and values); undefined when none applies. */
  readonly accessKey: string | undefined;
}

/** A matcher for a tenant glob: `*` matches any run of characters, `?` exactly one. */
export function tenantMatcher(pattern: string): (tenant: string) => boolean {
  if (!/[*?]/.test(pattern)) return (tenant) => tenant === pattern;
  const source = pattern
    .split("")
    .map((c) => (c === "*" ? ".*" : c === "?" ? "." : c.replace(/[\\^$.|+()[\]{}]/g, "\\$&")))
    .join("");
  const re = new RegExp(`^${source}$`, "su");
  return (tenant) => re.test(tenant);
}

function relationOf(options: SourceOptions): Relation {
  const relation = parseRelation(options.table);
  if (!relation) throw new InvalidSourceOptionsError("options.table", "is not a table name");
  return relation;
}

/** The rule granting `relation` to the caller; TableNotAllowedError when none does. */
function grantFor(policy: Policy | undefined, caller: Caller, table: string, relation: Relation) {
  if (isReservedSchema(relation.schema)) {
    throw new TableNotAllowedError(
      table,
      `is in schema "${relation.schema}", which is reserved (pg-sync state, shape server storage or system catalogs) and never observable`,
    );
  }
  if (!policy) return undefined;
  const rule = policy.tenants.find((r) => r.matches(caller.tenant));
  const entry = rule?.tables.find(
    (t) => t.schema === relation.schema && (t.name === undefined || t.name === relation.table),
  );
  if (!entry)
    throw new TableNotAllowedError(table, "is not allowed for this tenant by the authorization policy");
  return entry;
}

function checkColumns(entry: TableRule, options: SourceOptions): void {
  if (!entry.columns) return;
  const allowed = new Set(entry.columns);
  const list = entry.columns.join(", ");
  if (!options.columns) {
    throw new ColumnNotAllowedError(
      "options.columns",
      options.table,
      `the policy allows only these columns of ${options.table}: ${list}; list the columns you need`,
    );
  }
  options.columns.forEach((column, i) => {
    if (!allowed.has(column)) {
      throw new ColumnNotAllowedError(
        `options.columns[${i}]`,
        options.table,
        `column ${JSON.stringify(column)} of ${options.table} is not allowed (allowed: ${list})`,
      );
    }
  });
}

function accessKeyOf(template: RowFilterTemplate, values: readonly string[]): string {
  return JSON.stringify([template.source, values]);
}

/**
 * Decides whether the caller may register `options` (already validated): never a reserved
 * schema; with a policy, only tables (and columns) its first matching tenant rule allows, with
 * the rule's row filter ANDed in. Throws TableNotAllowedError, ColumnNotAllowedError or
 * PolicyClaimMissingError (all PERMISSION_DENIED).
 */
export function authorizeSource(
  policy: Policy | undefined,
  caller: Caller,
  options: SourceOptions,
): AuthorizedSource {
  const entry = grantFor(policy, caller, options.table, relationOf(options));
  if (!entry) return { options, accessKey: undefined };
  checkColumns(entry, options);
  if (!entry.rowFilter) return { options, accessKey: undefined };
  const applied = applyRowFilter(options, entry.rowFilter, caller);
  return { options: applied.options, accessKey: accessKeyOf(entry.rowFilter, applied.filter.values) };
}

/** A stored source as far as access checks need it. */
export interface StoredAccess {
  readonly sourceRef: string;
  readonly options: SourceOptions;
  readonly accessKey?: string | undefined;
}

/**
 * Checks that the caller may still read a stored source of its tenant: the table is still
 * allowed (else PERMISSION_DENIED), and the row filter bound to this caller is the one the
 * source was registered under (else NOT_FOUND, as for another tenant's source), so callers of
 * one tenant with different claims never read each other's rows.
 */
export function checkSourceAccess(policy: Policy | undefined, caller: Caller, source: StoredAccess): void {
  const entry = grantFor(policy, caller, source.options.table, relationOf(source.options));
  if (!entry) return;
  checkColumns(entry, source.options);
  const expected = entry.rowFilter
    ? accessKeyOf(entry.rowFilter, bindRowFilter(entry.rowFilter, caller).values)
    : undefined;
  if (expected !== source.accessKey) throw new SourceNotFoundError(source.sourceRef);
}
