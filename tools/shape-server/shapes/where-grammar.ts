/**
 * The where-clause grammar: Electric's accepted subset of SQL (its `Eval.Parser` and
 * `Env.KnownFunctions`), checked on Postgres' own parse tree (libpg-query, the same parser
 * Electric uses) before any SQL runs. Everything outside the subset is refused with Electric's
 * message: unknown functions (`unknown or unsupported function pg_sleep/1`), subqueries, casts to
 * types Electric does not know, references to anything but the table's columns, and missing
 * `$n` parameters. What passes can only compute over the row's columns and the parameters with
 * side-effect-free built-ins, so Postgres may then type-check and evaluate it.
 */
import { loadModule, parseSync } from "libpg-query";
import { InvalidRequestError } from "../errors.js";

/** A node of libpg-query's JSON parse tree: `{ Kind: { ...fields } }`. */
export type PgNode = Record<string, Record<string, unknown>>;

/** Length of `SELECT 1 WHERE `, subtracted from parse-tree locations as Electric does. */
const WHERE_PREFIX = "SELECT 1 WHERE ";
const ORDER_PREFIX = "SELECT 1 ORDER BY ";

const VARIADIC = -1;

/** Electric's known functions by name: accepted arities (`VARIADIC`: one or more). */
const KNOWN_FUNCTIONS: ReadonlyMap<string, readonly number[]> = new Map<string, readonly number[]>([
  ...["coalesce", "greatest", "least", "concat"].map((n): [string, number[]] => [n, [VARIADIC]]),
  ...[
    "int2",
    "int4",
    "int8",
    "float4",
    "float8",
    "numeric",
    "bool",
    "uuid",
    "text",
    "date",
    "time",
    "timestamp",
    "timestamptz",
    "interval",
    "int2out",
    "int4out",
    "int8out",
    "float4out",
    "float8out",
    "numericout",
    "dateout",
    "timeout",
    "timestampout",
    "intervalout",
    "boolout",
    "uuidout",
    "lower",
    "upper",
    "justify_days",
    "justify_hours",
    "justify_interval",
    "array_ndims",
  ].map((n): [string, number[]] => [n, [1]]),
  ...["like", "ilike", "timezone", "array_cat", "array_prepend", "array_append"].map(
    (n): [string, number[]] => [n, [2]],
  ),
]);

/** Electric's operators by arity. */
const BINARY_OPERATORS: ReadonlySet<string> = new Set(
  "= <> < > <= >= + - * / ^ & | # || ~~ ~~* !~~ !~~* @> <@ &&".split(" "),
);
const UNARY_OPERATORS: ReadonlySet<string> = new Set(["+", "-", "|/", "@", "~"]);

/** Types a cast may name (`Electric.Postgres.supported_types/0` plus `interval`). */
const CAST_TYPES: ReadonlySet<string> = new Set(
  "bool bytea date float4 float8 int2 int4 int8 jsonb text time timestamp timestamptz uuid varchar interval".split(
    " ",
  ),
);

const AEXPR_KINDS: ReadonlySet<string> = new Set([
  "AEXPR_OP",
  "AEXPR_LIKE",
  "AEXPR_ILIKE",
  "AEXPR_DISTINCT",
  "AEXPR_NOT_DISTINCT",
  "AEXPR_IN",
  "AEXPR_BETWEEN",
  "AEXPR_NOT_BETWEEN",
  "AEXPR_BETWEEN_SYM",
  "AEXPR_NOT_BETWEEN_SYM",
  "AEXPR_OP_ANY",
  "AEXPR_OP_ALL",
]);

/** Refusal at a parse-tree location (made relative to the clause when reported). */
class GrammarError extends Error {
  override name = "GrammarError";
  readonly location: number;
  constructor(location: number, message: string) {
    super(message);
    this.location = location;
  }
}

let loaded: Promise<void> | null = null;

/** Loads the parser (WebAssembly) once; must resolve before {@link checkWhere} is called. */
export function loadWhereGrammar(): Promise<void> {
  loaded ??= loadModule();
  return loaded;
}

/** What a clause may refer to. */
export interface WhereScope {
  /** The table's column names. */
  readonly columns: ReadonlySet<string>;
  /** Number of `$n` parameters supplied. */
  readonly paramCount: number;
}

function kindOf(node: PgNode): [string, Record<string, unknown>] {
  const [kind] = Object.keys(node);
  return [kind!, node[kind!]!];
}

function loc(fields: Record<string, unknown>): number {
  return typeof fields.location === "number" ? fields.location : 0;
}

function nodes(value: unknown): PgNode[] {
  if (value === undefined || value === null) return [];
  if (Array.isArray(value)) return value as PgNode[];
  const node = value as PgNode;
  if ("List" in node) return nodes(node.List!.items);
  return [node];
}

/** `[pg_catalog, x]` → `x`, else the names joined with dots (Electric's `identifier/1`). */
function identifier(names: unknown): string {
  const parts = nodes(names).map((n) => {
    const s = (n.String?.sval as string | undefined) ?? "*";
    return /^[a-z_][a-z0-9_$]*$/.test(s) || !/^[a-zA-Z_]/.test(s) ? s : `"${s.replaceAll('"', '""')}"`;
  });
  if (parts.length === 2 && parts[0] === "pg_catalog") return parts[1]!;
  return parts.join(".");
}

function checkOperator(names: unknown, arity: 1 | 2, at: number): void {
  const name = identifier(names);
  const known = arity === 1 ? UNARY_OPERATORS : BINARY_OPERATORS;
  if (!known.has(name))
    throw new GrammarError(at, `unknown ${arity === 1 ? "unary" : "binary"} operator ${name}`);
}

function checkFunction(fields: Record<string, unknown>, scope: WhereScope): void {
  const at = loc(fields);
  if (
    nodes(fields.agg_order).length > 0 ||
    fields.agg_filter ||
    fields.over ||
    fields.agg_within_group ||
    fields.agg_star ||
    fields.agg_distinct
  ) {
    throw new GrammarError(at, "aggregation is not supported in this context");
  }
  const args = nodes(fields.args);
  const name = identifier(fields.funcname);
  const arities = KNOWN_FUNCTIONS.get(name) ?? [];
  const ok = arities.some((a) => a === args.length || (a === VARIADIC && args.length > 0));
  if (!ok) throw new GrammarError(at, `unknown or unsupported function ${name}/${args.length}`);
  if (fields.func_variadic) {
    throw new GrammarError(at, "explicit VARIADIC function calls are not currently supported");
  }
  for (const arg of args) checkNode(arg, scope);
}

function checkTypeName(typeName: Record<string, unknown>): void {
  const names = nodes(typeName.names).map((n) => n.String?.sval as string);
  const base = names.length === 2 && names[0] === "pg_catalog" ? names[1]! : names.join(".");
  if (names.length > 2 || !CAST_TYPES.has(base)) {
    throw new GrammarError(loc(typeName), `unsupported type ${identifier(typeName.names)}`);
  }
}

function checkAExpr(fields: Record<string, unknown>, scope: WhereScope): void {
  const kind = fields.kind as string;
  const at = loc(fields);
  if (!AEXPR_KINDS.has(kind)) {
    throw new GrammarError(
      at,
      `expression ${identifier(fields.name)} of :${kind} is not currently supported`,
    );
  }
  const left = fields.lexpr as PgNode | undefined;
  const right = nodes(fields.rexpr);
  if (kind === "AEXPR_OP") checkOperator(fields.name, left ? 2 : 1, at);
  if (kind === "AEXPR_OP_ANY" || kind === "AEXPR_OP_ALL") checkOperator(fields.name, 2, at);
  if (left) checkNode(left, scope);
  for (const node of right) checkNode(node, scope);
}

function checkColumnRef(fields: Record<string, unknown>, scope: WhereScope): void {
  const path = nodes(fields.fields);
  const name = path.length === 1 ? (path[0]!.String?.sval as string | undefined) : undefined;
  if (name === undefined || !scope.columns.has(name)) {
    throw new GrammarError(loc(fields), `unknown reference ${identifier(fields.fields)}`);
  }
}

function checkParamRef(fields: Record<string, unknown>, scope: WhereScope): void {
  const n = fields.number as number;
  if (n < 1 || n > scope.paramCount) throw new GrammarError(loc(fields), `parameter $${n} was not provided`);
}

/** Checks one expression node and its children; throws {@link GrammarError}. */
function checkNode(node: PgNode, scope: WhereScope): void {
  const [kind, f] = kindOf(node);
  switch (kind) {
    case "A_Const":
      if (f.bsval !== undefined) throw new GrammarError(loc(f), "A_Const is not supported in this context");
      return;
    case "ColumnRef":
      checkColumnRef(f, scope);
      return;
    case "ParamRef":
      checkParamRef(f, scope);
      return;
    case "FuncCall":
      checkFunction(f, scope);
      return;
    case "A_Expr":
      checkAExpr(f, scope);
      return;
    case "BoolExpr":
    case "CoalesceExpr":
    case "MinMaxExpr":
      for (const arg of nodes(f.args)) checkNode(arg, scope);
      return;
    case "NullTest":
    case "BooleanTest":
      checkNode(f.arg as PgNode, scope);
      return;
    case "TypeCast":
      checkNode(f.arg as PgNode, scope);
      checkTypeName(f.typeName as Record<string, unknown>);
      return;
    case "A_ArrayExpr":
      for (const element of nodes(f.elements)) checkNode(element, scope);
      return;
    case "A_Indirection":
      checkNode(f.arg as PgNode, scope);
      for (const ind of nodes(f.indirection)) checkIndices(ind, scope);
      return;
    case "SubLink":
      throw new GrammarError(loc(f), subLinkMessage(f));
    default:
      throw new GrammarError(loc(f), `${kind} is not supported in this context`);
  }
}

function checkIndices(node: PgNode, scope: WhereScope): void {
  const [kind, f] = kindOf(node);
  if (kind !== "A_Indices") throw new GrammarError(loc(f), `${kind} is not supported in this context`);
  if (f.lidx) checkNode(f.lidx as PgNode, scope);
  if (f.uidx) checkNode(f.uidx as PgNode, scope);
}

function subLinkMessage(fields: Record<string, unknown>): string {
  if (fields.subLinkType === "ANY_SUBLINK" && nodes(fields.operName).length === 0) {
    return "subqueries (`value IN (SELECT ...)`) are not supported by this shape server";
  }
  return "only `value IN (SELECT ...)` sublinks are supported right now";
}

/** The only keys a bare `SELECT 1 WHERE ...`/`ORDER BY ...` statement has. */
const BARE_SELECT_KEYS = new Set(["targetList", "limitOption", "op"]);

function parseClause(prefix: string, text: string, clause: "whereClause" | "sortClause"): unknown {
  let result: { stmts: Array<{ stmt: PgNode }> };
  try {
    result = parseSync(`${prefix}${text}`) as unknown as typeof result;
  } catch (err) {
    const details = (err as { sqlDetails?: { cursorPosition?: number } }).sqlDetails;
    const message = err instanceof Error ? err.message : String(err);
    // Electric reports the parser's position in the wrapped statement, prefix included.
    const position = details?.cursorPosition;
    throw new GrammarError(position === undefined ? -1 : position + prefix.length, message);
  }
  if (result.stmts.length !== 1) throw new GrammarError(-1, 'unescaped ";" causing statement split');
  const select = result.stmts[0]!.stmt.SelectStmt;
  if (!select) throw new GrammarError(-1, "malformed query ending with SQL clauses");
  const extra = Object.keys(select).filter((k) => k !== clause && !BARE_SELECT_KEYS.has(k));
  if (extra.length > 0) throw new GrammarError(-1, "malformed query ending with SQL clauses");
  return select[clause];
}

function located(err: unknown, prefix: string, field: string): never {
  if (!(err instanceof GrammarError)) throw err;
  const message =
    err.location < 0
      ? err.message
      : `At location ${Math.max(err.location - prefix.length, 0)}: ${err.message}`;
  throw InvalidRequestError.field(field, message);
}

/**
 * Parses and checks a where clause against Electric's grammar; returns its parse tree or throws
 * {@link InvalidRequestError} on `where` (Electric's 400 body).
 */
export function checkWhere(where: string, scope: WhereScope): PgNode {
  try {
    const tree = parseClause(WHERE_PREFIX, where, "whereClause") as PgNode | undefined;
    if (!tree) throw new GrammarError(-1, "malformed query ending with SQL clauses");
    checkNode(tree, scope);
    return tree;
  } catch (err) {
    return located(err, WHERE_PREFIX, "where");
  }
}

/**
 * Checks an `ORDER BY` list as Electric's `validate_order_by/2`: only column references with
 * `ASC`/`DESC` and `NULLS FIRST`/`LAST`. Throws {@link InvalidRequestError} on `order_by`.
 */
export function checkOrderBy(orderBy: string, columns: ReadonlySet<string>): void {
  try {
    const sorts = nodes(parseClause(ORDER_PREFIX, orderBy, "sortClause"));
    for (const sort of sorts) {
      const [kind, f] = kindOf(sort);
      if (kind !== "SortBy")
        throw new GrammarError(loc(f), `${kind} expressions are not allowed in ORDER BY clauses`);
      if (nodes(f.useOp).length > 0)
        throw new GrammarError(loc(f), "USING is not allowed in ORDER BY clauses");
      const [argKind, arg] = kindOf(f.node as PgNode);
      if (argKind === "ParamRef") {
        throw new GrammarError(loc(arg), `parameter $${arg.number} is not supported in ORDER BY clauses`);
      }
      if (argKind !== "ColumnRef") {
        throw new GrammarError(loc(arg), `${argKind} expressions are not allowed in ORDER BY clauses`);
      }
      checkColumnRef(arg, { columns, paramCount: 0 });
    }
  } catch (err) {
    located(err, ORDER_PREFIX, "order_by");
  }
}

function collectParamRefs(value: unknown, out: Array<{ number: number; location: number }>): void {
  if (Array.isArray(value)) {
    for (const item of value) collectParamRefs(item, out);
    return;
  }
  if (value === null || typeof value !== "object") return;
  const record = value as Record<string, unknown>;
  const param = record.ParamRef as { number: number; location: number } | undefined;
  if (param) out.push(param);
  for (const child of Object.values(record)) collectParamRefs(child, out);
}

/**
 * Rewrites `$n` as `$(n + shift)` in a clause that passed {@link checkWhere}, so a subset's own
 * parameters can follow the shape's in one statement.
 */
export function shiftParams(where: string, shift: number): string {
  if (shift === 0) return where;
  const refs: Array<{ number: number; location: number }> = [];
  collectParamRefs(parseClause(WHERE_PREFIX, where, "whereClause"), refs);
  let out = where;
  for (const ref of refs.sort((a, b) => b.location - a.location)) {
    const at = ref.location - WHERE_PREFIX.length;
    const text = `$${ref.number}`;
    if (out.slice(at, at + text.length) !== text) throw new Error(`unexpected parameter text at ${at}`);
    out = `${out.slice(0, at)}$${ref.number + shift}${out.slice(at + text.length)}`;
  }
  return out;
}
