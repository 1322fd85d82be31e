import { readFileSync } from "node:fs";
import { isNode, LineCounter, parseDocument } from "yaml";
import { z } from "zod";
import type { Policy, TableRule, TenantRule } from "./domain/policy.js";
import { tenantMatcher } from "./domain/policy.js";
import { isReservedSchema, parseRelation } from "./domain/relation.js";
import { compileRowFilter } from "./domain/row-filter.js";

/**
 * The authorization policy file (`PGSYNC_POLICY_FILE`), YAML or JSON (JSON is read as YAML):
 *
 * ```yaml
 * tenants:                       # first matching rule wins
 *   - tenant: "acme-*"           # a tenant name, or a glob (* any run, ? one character)
 *     tables:                    # first matching entry wins
 *       - table: public.todos    # Postgres syntax: unquoted folds to lower case, "Quoted" keeps case
 *         columns: [id, title, org_id]          # optional: the only columns it may select
 *         row_filter: "org_id = $claim.org"     # optional: ANDed into every source on the table
 *       - table: reports.*       # every table of a schema
 * ```
 */

/** A policy file that cannot be read or is invalid; the message names the file and line. */
export class PolicyFileError extends Error {
  override name = "PolicyFileError";
}

const TABLE_ENTRY = z.strictObject({
  table: z.string().min(1),
  columns: z.array(z.string().min(1)).min(1).optional(),
  row_filter: z.string().optional(),
});
const POLICY_FILE = z.strictObject({
  tenants: z.array(
    z.strictObject({
      tenant: z.string().min(1).max(256),
      tables: z.array(TABLE_ENTRY),
    }),
  ),
});

type Path = readonly (string | number)[];

function compileTable(entry: z.infer<typeof TABLE_ENTRY>, fail: (p: Path, m: string) => never): TableRule {
  const wildcard = /^(.+)\.\*$/.exec(entry.table.trim());
  const relation = parseRelation(wildcard ? `${wildcard[1]}.x` : entry.table);
  if (!relation)
    fail(["table"], `${JSON.stringify(entry.table)} is not a table name (schema.table or schema.*)`);
  if (isReservedSchema(relation.schema)) {
    fail(["table"], `schema "${relation.schema}" is reserved and can never be observed`);
  }
  let rowFilter: TableRule["rowFilter"];
  if (entry.row_filter !== undefined) {
    const compiled = compileRowFilter(entry.row_filter);
    if (typeof compiled === "string") fail(["row_filter"], compiled);
    rowFilter = compiled;
  }
  return {
    table: entry.table,
    schema: relation.schema,
    name: wildcard ? undefined : relation.table,
    columns: entry.columns,
    rowFilter,
  };
}

/** Parses and validates policy text; `file` names it in errors (`file:line: problem`). */
export function parsePolicy(text: string, file: string): Policy {
  const lineCounter = new LineCounter();
  const doc = parseDocument(text, { lineCounter, prettyErrors: false });
  const lineOf = (path: Path): number => {
    for (let p = [...path]; ; p = p.slice(0, -1)) {
      const node = doc.getIn(p, true);
      if (isNode(node) && node.range) return lineCounter.linePos(node.range[0]).line;
      if (p.length === 0) return 1;
    }
  };
  const fail = (path: Path, problem: string): never => {
    throw new PolicyFileError(`${file}:${lineOf(path)}: ${problem}`);
  };
  const syntax = doc.errors[0];
  if (syntax) {
    throw new PolicyFileError(`${file}:${lineCounter.linePos(syntax.pos[0]).line}: ${syntax.message}`);
  }
  const parsed = POLICY_FILE.safeParse(doc.toJS());
  if (!parsed.success) {
    const issue = parsed.error.issues[0] as z.core.$ZodIssue;
    const path = issue.path.filter((k): k is string | number => typeof k !== "symbol");
    fail(path, `${path.length > 0 ? `${path.join(".")}: ` : ""}${issue.message}`);
  }
  const data = parsed.data as z.infer<typeof POLICY_FILE>;
  const tenants: TenantRule[] = data.tenants.map((rule, i) => ({
    tenant: rule.tenant,
    matches: tenantMatcher(rule.tenant),
    tables: rule.tables.map((entry, j) =>
      compileTable(entry, (p, m) => fail(["tenants", i, "tables", j, ...p], m)),
    ),
  }));
  return { tenants };
}

/** Reads and validates the policy file; PolicyFileError naming the file and line when invalid. */
export function loadPolicyFile(file: string): Policy {
  let text: string;
  try {
    text = readFileSync(file, "utf8");
  } catch (err) {
    throw new PolicyFileError(
      `${file}: cannot read the policy file (${(err as NodeJS.ErrnoException).code})`,
    );
  }
  return parsePolicy(text, file);
}
