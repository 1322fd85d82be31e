/**
 * Evaluates the common part of Electric's grammar in process, on the parse tree from
 * `where-grammar.ts`, so most live changes are filtered without running SQL: column and constant
 * or parameter comparisons over integer, text and bool columns, `AND`/`OR`/`NOT`, `IS [NOT] NULL`
 * and `[NOT] IN (list)`, with SQL's three-valued logic. Anything else (other types, functions,
 * casts, ordering of text, which depends on collation) is not compiled, and the caller falls back
 * to Postgres for that clause.
 */
import type { RowImage } from "./messages.js";
import type { TableInfo } from "./table-info.js";
import type { PgNode } from "./where-grammar.js";

/** A value during evaluation; null is SQL NULL. */
type Value =
  | { readonly t: "int"; readonly v: bigint }
  | { readonly t: "text" | "bool"; readonly v: string }
  | null;
/** A literal whose type comes from the other operand (a string constant or a parameter). */
type Unknown = { readonly t: "unknown"; readonly v: string };
type Operand = (row: RowImage) => Value | Unknown;
/** A compiled predicate: true, false or null (unknown). */
export type CompiledWhere = (row: RowImage) => boolean | null;

/** Raised while compiling or evaluating something this evaluator does not handle. */
export class NotCompilable extends Error {
  override name = "NotCompilable";
}

const INT_TYPES = new Set(["int2", "int4", "int8"]);
const TEXT_TYPES = new Set(["text", "varchar"]);
const INTEGER = /^[+-]?\d+$/;

function kindOf(node: PgNode): [string, Record<string, unknown>] {
  const [kind] = Object.keys(node);
  return [kind!, node[kind!]!];
}

function list(value: unknown): PgNode[] {
  if (value === undefined || value === null) return [];
  if (Array.isArray(value)) return value as PgNode[];
  const node = value as PgNode;
  return "List" in node ? list(node.List!.items) : [node];
}

function operatorName(names: unknown): string {
  return list(names)
    .map((n) => n.String?.sval as string)
    .filter((s) => s !== "pg_catalog")
    .join(".");
}

/** Coerces an operand to the type of the other side (Postgres' unknown-literal resolution). */
function coerce(value: Value | Unknown, to: "int" | "text" | "bool"): Value {
  if (value === null || value.t !== "unknown") return value;
  if (to === "int") {
    if (!INTEGER.test(value.v.trim())) throw new NotCompilable("not an integer literal");
    return { t: "int", v: BigInt(value.v.trim()) };
  }
  if (to === "bool") {
    const v = value.v.trim().toLowerCase();
    if (["t", "true", "yes", "on", "1"].includes(v)) return { t: "bool", v: "t" };
    if (["f", "false", "no", "off", "0"].includes(v)) return { t: "bool", v: "f" };
    throw new NotCompilable("not a bool literal");
  }
  return { t: "text", v: value.v };
}

function compare(op: string, a: Value | Unknown, b: Value | Unknown): boolean | null {
  const type = a !== null && a.t !== "unknown" ? a.t : b !== null && b.t !== "unknown" ? b.t : "text";
  const x = coerce(a, type);
  const y = coerce(b, type);
  if (x === null || y === null) return null;
  if (x.t !== y.t) throw new NotCompilable("type mismatch");
  if (op === "=") return x.v === y.v;
  if (op === "<>") return x.v !== y.v;
  if (x.t !== "int" || y.t !== "int") throw new NotCompilable("ordering needs collation");
  switch (op) {
    case "<":
      return x.v < y.v;
    case ">":
      return x.v > y.v;
    case "<=":
      return x.v <= y.v;
    case ">=":
      return x.v >= y.v;
    default:
      throw new NotCompilable(`operator ${op}`);
  }
}

function compileOperand(node: PgNode, table: TableInfo, params: readonly string[]): Operand {
  const [kind, f] = kindOf(node);
  if (kind === "A_Const") {
    if (f.isnull) return () => null;
    if (f.ival !== undefined) {
      const v = BigInt(((f.ival as { ival?: number }).ival ?? 0) as number);
      return () => ({ t: "int", v });
    }
    if (f.sval !== undefined) {
      const v = (f.sval as { sval?: string }).sval ?? "";
      return () => ({ t: "unknown", v });
    }
    if (f.boolval !== undefined) {
      const v = (f.boolval as { boolval?: boolean }).boolval ? "t" : "f";
      return () => ({ t: "bool", v });
    }
    throw new NotCompilable("constant kind");
  }
  if (kind === "ParamRef") {
    const v = params[(f.number as number) - 1];
    if (v === undefined) throw new NotCompilable("missing parameter");
    return () => ({ t: "unknown", v });
  }
  if (kind === "ColumnRef") {
    const name = list(f.fields)[0]?.String?.sval as string;
    const column = table.columns.find((c) => c.name === name);
    if (column?.dims !== 0) throw new NotCompilable("column type");
    const t = INT_TYPES.has(column.typeName)
      ? "int"
      : TEXT_TYPES.has(column.typeName)
        ? "text"
        : column.typeName === "bool"
          ? "bool"
          : null;
    if (t === null) throw new NotCompilable(`column type ${column.typeName}`);
    return (row) => {
      const raw = row[name];
      if (raw === undefined) throw new NotCompilable("column missing from the row image");
      if (raw === null) return null;
      return t === "int" ? { t, v: BigInt(raw) } : { t, v: raw };
    };
  }
  throw new NotCompilable(kind);
}

function and(a: boolean | null, b: boolean | null): boolean | null {
  if (a === false || b === false) return false;
  return a === null || b === null ? null : true;
}

function or(a: boolean | null, b: boolean | null): boolean | null {
  if (a === true || b === true) return true;
  return a === null || b === null ? null : false;
}

function not(a: boolean | null): boolean | null {
  return a === null ? null : !a;
}

function compileBool(node: PgNode, table: TableInfo, params: readonly string[]): CompiledWhere {
  const [kind, f] = kindOf(node);
  if (kind === "BoolExpr") {
    const args = list(f.args).map((a) => compileBool(a, table, params));
    if (f.boolop === "NOT_EXPR") return (row) => not(args[0]!(row));
    const join = f.boolop === "AND_EXPR" ? and : or;
    return (row) => args.slice(1).reduce((acc, arg) => join(acc, arg(row)), args[0]!(row));
  }
  if (kind === "NullTest") {
    const arg = compileOperand(f.arg as PgNode, table, params);
    const isNull = f.nulltesttype === "IS_NULL";
    return (row) => (arg(row) === null) === isNull;
  }
  if (kind === "A_Expr" && f.kind === "AEXPR_OP" && f.lexpr) {
    const op = operatorName(f.name);
    const left = compileOperand(f.lexpr as PgNode, table, params);
    const right = compileOperand(f.rexpr as PgNode, table, params);
    return (row) => compare(op, left(row), right(row));
  }
  if (kind === "A_Expr" && f.kind === "AEXPR_IN") {
    const negate = operatorName(f.name) === "<>";
    const left = compileOperand(f.lexpr as PgNode, table, params);
    const items = list(f.rexpr).map((item) => compileOperand(item, table, params));
    return (row) => {
      const value = left(row);
      const found = items.reduce<boolean | null>(
        (acc, item) => or(acc, compare("=", value, item(row))),
        false,
      );
      return negate ? not(found) : found;
    };
  }
  if (kind === "ColumnRef") {
    const operand = compileOperand(node, table, params);
    return (row) => {
      const value = operand(row);
      if (value !== null && value.t !== "bool") throw new NotCompilable("not a bool column");
      return value === null ? null : value.v === "t";
    };
  }
  throw new NotCompilable(kind);
}

/**
 * Compiles a checked clause's parse tree for `table` with its parameters; null when some part of
 * it is not handled here (the clause is then evaluated by Postgres).
 */
export function compileWhere(
  tree: PgNode,
  table: TableInfo,
  params: readonly string[],
): CompiledWhere | null {
  try {
    return compileBool(tree, table, params);
  } catch (err) {
    if (err instanceof NotCompilable) return null;
    throw err;
  }
}
