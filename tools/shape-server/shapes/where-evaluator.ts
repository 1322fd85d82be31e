/**
 * Evaluates shape `where` clauses against replicated row images. Clauses the in-process
 * evaluator handles (`where-ast.ts`: comparisons, boolean logic, null tests and IN lists over
 * integer, text and bool columns) run on the parse tree without SQL. The others run in Postgres:
 * the images are turned into rows of the table's type with `jsonb_populate_record` (once per
 * batch and table, into a temporary copy of the table) and each distinct clause is one query.
 */
import type pg from "pg";
import { RETRY_AFTER_DB_ERROR_S } from "../constants.js";
import { InvalidRequestError, UnavailableError } from "../errors.js";
import { quoteIdent, quoteRelation } from "../identifiers.js";
import type { RowImage } from "./messages.js";
import type { TableInfo } from "./table-info.js";
import { type CompiledWhere, compileWhere, NotCompilable } from "./where-ast.js";
import { checkWhere } from "./where-grammar.js";

/** A `pg` query config that forces the extended protocol (one statement, real parameters). */
function extendedQuery(text: string, values: unknown[]): pg.QueryConfig {
  return { text, values, queryMode: "extended" } as pg.QueryConfig;
}

interface PgError {
  code?: string;
  position?: string;
  message: string;
}

function isPgError(err: unknown): err is PgError {
  return err instanceof Error && typeof (err as PgError).code === "string";
}

/** Postgres error classes caused by the request itself (syntax, names, types, bad values). */
function isRequestError(err: PgError): boolean {
  const cls = err.code?.slice(0, 2);
  return cls === "42" || cls === "22" || err.code === "08P01";
}

/** Converts a row image to the JSON object `jsonb_populate_record` expects (json columns parsed). */
function imageToJson(table: TableInfo, image: RowImage): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const column of table.columns) {
    const value = image[column.name];
    if (value === undefined) continue;
    if (value !== null && column.isJson) {
      try {
        out[column.name] = JSON.parse(value);
      } catch {
        out[column.name] = value;
      }
    } else {
      out[column.name] = value;
    }
  }
  return out;
}

/** Turns a Postgres error about a where clause into Electric's 400 (or a 503 for other failures). */
export function whereError(err: unknown, whereAt: number, hasParams: boolean): Error {
  if (!isPgError(err))
    return new UnavailableError("Database is unreachable", RETRY_AFTER_DB_ERROR_S, true, { cause: err });
  if (/bind message supplies|parameter \$\d+/.test(err.message)) {
    return InvalidRequestError.field("params", err.message);
  }
  if (!isRequestError(err)) {
    return new UnavailableError("Database is unreachable", RETRY_AFTER_DB_ERROR_S, true, { cause: err });
  }
  if (hasParams && err.code?.startsWith("22")) return InvalidRequestError.field("params", err.message);
  const position = Number(err.position);
  const location =
    Number.isFinite(position) && position > whereAt ? `At location ${position - whereAt - 1}: ` : "";
  return InvalidRequestError.field("where", `${location}${err.message}`);
}

/** One where clause with its parameters. */
export interface WhereClause {
  /** SQL boolean expression. */
  readonly where: string;
  /** Values of `$1..$n`. */
  readonly params: readonly string[];
}

/** Per connection: temp tables created (by table oid) with the column signature they were made for. */
const tempTables = new WeakMap<pg.ClientBase, Map<number, string>>();

function tempName(table: TableInfo): string {
  return `__electric_eval_${table.oid}`;
}

/**
 * Runs where clauses against row images on a read-only pool. A batch's images of one table are
 * loaded once into a temporary copy of the table (`jsonb_populate_record`, so Postgres parses the
 * text), then each distinct where clause is one `SELECT ... WHERE <where>` over it.
 */
export class WhereEvaluator {
  readonly #pool: pg.Pool;
  /** Compiled clauses by table signature and clause (null: evaluated by Postgres). */
  readonly #compiled = new Map<string, CompiledWhere | null>();
  #inProcess = 0;
  #inPostgres = 0;

  /** @param pool a pool whose sessions are read-only and use the display settings. */
  constructor(pool: pg.Pool) {
    this.#pool = pool;
  }

  /** Checks that `where` is a valid boolean expression over the table with exactly these params. */
  async validate(table: TableInfo, where: string, params: readonly string[]): Promise<void> {
    const head = `SELECT 1 FROM ${quoteRelation(table.relation)} WHERE (\n`;
    try {
      await this.#pool.query(extendedQuery(`${head}${where}\n) LIMIT 0`, [...params]));
    } catch (err) {
      throw whereError(err, head.length, params.length > 0);
    }
  }

  /** Clause evaluations done in process and in Postgres since start. */
  get counts(): { inProcess: number; inPostgres: number } {
    return { inProcess: this.#inProcess, inPostgres: this.#inPostgres };
  }

  #compile(table: TableInfo, clause: WhereClause): CompiledWhere | null {
    const signature = table.columns.map((c) => `${c.name}:${c.typeOid}:${c.dims}`).join(",");
    const key = JSON.stringify([table.oid, signature, clause.where, clause.params]);
    if (this.#compiled.has(key)) return this.#compiled.get(key)!;
    let compiled: CompiledWhere | null = null;
    try {
      const columns = new Set(table.columns.map((c) => c.name));
      compiled = compileWhere(
        checkWhere(clause.where, { columns, paramCount: clause.params.length }),
        table,
        clause.params,
      );
    } catch {
      compiled = null;
    }
    if (this.#compiled.size > 10_000) this.#compiled.clear();
    this.#compiled.set(key, compiled);
    return compiled;
  }

  /** Runs a compiled clause over the images; null when an image needs Postgres after all. */
  #runCompiled(compiled: CompiledWhere, images: readonly RowImage[]): number[] | null {
    const matches: number[] = [];
    try {
      for (let i = 0; i < images.length; i++) if (compiled(images[i]!) === true) matches.push(i);
    } catch (err) {
      if (err instanceof NotCompilable) return null;
      throw err;
    }
    return matches;
  }

  /**
   * Evaluates each clause against every image; returns per clause the indexes of the matching
   * images (ascending), or the error that clause raised.
   */
  async evaluate(
    table: TableInfo,
    images: readonly RowImage[],
    clauses: readonly WhereClause[],
  ): Promise<Array<number[] | Error>> {
    const results: Array<number[] | Error | undefined> = clauses.map((clause) => {
      const compiled = this.#compile(table, clause);
      return compiled ? (this.#runCompiled(compiled, images) ?? undefined) : undefined;
    });
    const pending = clauses.filter((_, i) => results[i] === undefined);
    this.#inProcess += clauses.length - pending.length;
    if (pending.length > 0) {
      this.#inPostgres += pending.length;
      const fromSql = await this.#evaluateInPostgres(table, images, pending);
      let next = 0;
      for (let i = 0; i < results.length; i++) if (results[i] === undefined) results[i] = fromSql[next++];
    }
    return results as Array<number[] | Error>;
  }

  async #evaluateInPostgres(
    table: TableInfo,
    images: readonly RowImage[],
    clauses: readonly WhereClause[],
  ): Promise<Array<number[] | Error>> {
    const results: Array<number[] | Error | undefined> = new Array(clauses.length).fill(undefined);
    if (images.length === 0) return clauses.map(() => []);
    const json = JSON.stringify(images.map((image) => imageToJson(table, image)));
    const client = await this.#pool.connect();
    let broken = false;
    try {
      await this.#ensureTemp(client, table);
      const temp = quoteIdent(tempName(table));
      const alias = quoteIdent(table.relation.table);
      // Clauses that fail abort the transaction: start again without them.
      while (results.includes(undefined)) {
        await client.query("BEGIN");
        try {
          await client.query(
            extendedQuery(
              `INSERT INTO pg_temp.${temp} SELECT e.ix, r.* FROM jsonb_array_elements($1::jsonb) WITH ORDINALITY AS e(img, ix)
               CROSS JOIN LATERAL jsonb_populate_record(NULL::${quoteRelation(table.relation)}, e.img) AS r`,
              [json],
            ),
          );
          for (let i = 0; i < clauses.length; i++) {
            if (results[i] !== undefined) continue;
            const clause = clauses[i]!;
            try {
              const res = await client.query<{ __electric_ix: string }>(
                extendedQuery(
                  `SELECT __electric_ix FROM pg_temp.${temp} AS ${alias} WHERE (\n${clause.where}\n) ORDER BY 1`,
                  [...clause.params],
                ),
              );
              results[i] = res.rows.map((row) => Number(row.__electric_ix) - 1);
            } catch (err) {
              if (!isPgError(err)) throw err;
              results[i] = err as unknown as Error;
              break;
            }
          }
        } finally {
          // ON COMMIT DELETE ROWS empties the copy; a failed transaction is rolled back.
          await client.query("COMMIT");
        }
      }
    } catch (err) {
      broken = true;
      throw err;
    } finally {
      client.release(broken);
    }
    return results as Array<number[] | Error>;
  }

  async #ensureTemp(client: pg.PoolClient, table: TableInfo): Promise<void> {
    const signature = table.columns.map((c) => `${c.name}:${c.typeOid}`).join(",");
    let known = tempTables.get(client);
    if (!known) {
      known = new Map();
      tempTables.set(client, known);
    }
    if (known.get(table.oid) === signature) return;
    const temp = quoteIdent(tempName(table));
    await client.query("BEGIN READ WRITE");
    try {
      await client.query(`DROP TABLE IF EXISTS pg_temp.${temp}`);
      await client.query(
        `CREATE TEMP TABLE ${temp} ON COMMIT DELETE ROWS AS
         SELECT 0::bigint AS __electric_ix, * FROM ${quoteRelation(table.relation)} WITH NO DATA`,
      );
      await client.query("COMMIT");
    } catch (err) {
      await client.query("ROLLBACK").catch(() => {});
      throw err;
    }
    known.set(table.oid, signature);
  }
}
