import { InvalidSourceOptionsError, PolicyClaimMissingError } from "./errors.js";
import type { SourceOptions } from "./source-options.js";

/**
 * A policy's forced row filter: a where clause whose `$tenant` and `$claim.<name>` references are
 * bound to the caller's tenant and JWT claims. References become Electric params (never text
 * spliced into SQL), numbered after the caller's own params.
 */
export interface RowFilterTemplate {
  /** The clause as written in the policy. */
  readonly source: string;
  /** The clause split around its references: `parts.length === refs.length + 1`. */
  readonly parts: readonly string[];
  /** Each reference in order: `"tenant"` or `"claim:<name>"`. */
  readonly refs: readonly string[];
}

/** What a caller's references are bound to. */
export interface FilterSubject {
  readonly tenant: string;
  /** JWT claims (empty for static tokens). */
  readonly claims: Readonly<Record<string, unknown>>;
}

/** A forced filter bound to a caller: the clause with numbered placeholders and their values. */
export interface BoundRowFilter {
  /** The clause with references replaced by `$first`, `$first+1`, ... (in order of first use). */
  readonly where: string;
  /** Values of those params, in order. */
  readonly values: readonly string[];
}

const REFERENCE = /\$(tenant\b|claim\.[A-Za-z_][A-Za-z0-9_]*|[A-Za-z_][A-Za-z0-9_.]*|\d+)/g;

/**
 * Compiles a policy's row filter; returns an error message instead when it uses a reference
 * other than `$tenant` and `$claim.<name>` (numbered `$1` params belong to the caller's own where).
 */
export function compileRowFilter(source: string): RowFilterTemplate | string {
  if (source.trim() === "") return "row filter must not be blank";
  const parts: string[] = [];
  const refs: string[] = [];
  let last = 0;
  for (const match of source.matchAll(REFERENCE)) {
    const name = match[1] as string;
    if (name !== "tenant" && !name.startsWith("claim.")) {
      return `row filter may only reference $tenant and $claim.<name> (found $${name})`;
    }
    parts.push(source.slice(last, match.index));
    refs.push(name === "tenant" ? "tenant" : `claim:${name.slice("claim.".length)}`);
    last = (match.index ?? 0) + match[0].length;
  }
  parts.push(source.slice(last));
  const problem = unsafeWhereProblem(parts.join("$1"));
  if (problem) return `row filter ${problem}`;
  return { source, parts, refs };
}

function claimValue(subject: FilterSubject, name: string): string {
  const value = subject.claims[name];
  if (typeof value === "string" || typeof value === "number" || typeof value === "boolean") {
    return String(value);
  }
  throw new PolicyClaimMissingError(name);
}

/**
 * Binds a template to a caller, numbering its params from `first`; PolicyClaimMissingError when a
 * referenced claim is absent.
 */
export function bindRowFilter(
  template: RowFilterTemplate,
  subject: FilterSubject,
  first = 1,
): BoundRowFilter {
  const index = new Map<string, number>();
  const values: string[] = [];
  let where = template.parts[0] as string;
  template.refs.forEach((ref, i) => {
    let n = index.get(ref);
    if (n === undefined) {
      values.push(ref === "tenant" ? subject.tenant : claimValue(subject, ref.slice("claim:".length)));
      n = values.length;
      index.set(ref, n);
    }
    where += `$${n + first - 1}${template.parts[i + 1] as string}`;
  });
  return { where, values };
}

/** The number the next param gets after the caller's own ones. */
function nextParamNumber(params: SourceOptions["params"]): number {
  if (params === undefined) return 1;
  if (Array.isArray(params)) return params.length + 1;
  const keys = Object.keys(params as Record<string, string>).map(Number);
  return keys.length === 0 ? 1 : Math.max(...keys) + 1;
}

/**
 * The options the bridge asks Electric for: the forced filter ANDed with the caller's where
 * (`(forced) AND (caller's)`), its values appended to the caller's params in the caller's form.
 * The caller's where must be a self-contained expression, or it could escape the parentheses.
 */
export function applyRowFilter(
  options: SourceOptions,
  template: RowFilterTemplate,
  subject: FilterSubject,
): { options: SourceOptions; filter: BoundRowFilter } {
  if (options.where !== undefined) {
    const problem = unsafeWhereProblem(options.where);
    if (problem)
      throw new InvalidSourceOptionsError("options.where", `${problem} (a row filter is enforced)`);
  }
  const first = nextParamNumber(options.params);
  const filter = bindRowFilter(template, subject, first);
  const forced = filter.where;
  const where = options.where === undefined ? forced : `(${forced}) AND (${options.where})`;
  let params: SourceOptions["params"];
  if (options.params === undefined) params = [...filter.values];
  else if (Array.isArray(options.params)) params = [...(options.params as string[]), ...filter.values];
  else {
    const named: Record<string, string> = { ...(options.params as Record<string, string>) };
    filter.values.forEach((v, i) => {
      named[String(first + i)] = v;
    });
    params = named;
  }
  return { options: { ...options, where, params }, filter };
}

/** Skips a quoted run starting at `text[i]` (the quote); returns the index after it, or -1. */
function skipQuoted(text: string, i: number, quote: string, backslashEscapes: boolean): number {
  for (let j = i + 1; j < text.length; j++) {
    if (backslashEscapes && text[j] === "\\") {
      j++;
      continue;
    }
    if (text[j] === quote) {
      if (text[j + 1] === quote) {
        j++;
        continue;
      }
      return j + 1;
    }
  }
  return -1;
}

/**
 * Why `where` is not a self-contained expression, or undefined when it is: parentheses must
 * balance (never closing one it did not open), quotes must close, and comments, dollar quoting
 * and `;` are refused, so that `(where)` can be ANDed with a forced filter without escaping it.
 */
export function unsafeWhereProblem(where: string): string | undefined {
  let depth = 0;
  for (let i = 0; i < where.length; ) {
    const c = where[i] as string;
    if (c === "'" || c === '"') {
      const prev = where[i - 1] ?? "";
      const escapes = c === "'" && /[eE]/.test(prev) && !/[\w$]/.test(where[i - 2] ?? "");
      const end = skipQuoted(where, i, c, escapes);
      if (end < 0) return "has an unterminated quote";
      i = end;
      continue;
    }
    if ((c === "-" && where[i + 1] === "-") || (c === "/" && where[i + 1] === "*")) {
      return "must not contain comments";
    }
    if (c === "$" && !/\d/.test(where[i + 1] ?? "")) return "must not use dollar quoting";
    if (c === ";") return "must not contain ';'";
    if (c === "(") depth++;
    if (c === ")" && --depth < 0) return "closes a parenthesis it did not open";
    i++;
  }
  return depth === 0 ? undefined : "has an unclosed parenthesis";
}
