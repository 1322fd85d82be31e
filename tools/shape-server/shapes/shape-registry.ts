/**
 * All shapes of the server: lookup by definition and by handle, routing by table, creation
 * (validation, publication, snapshot) and removal (delete, rotate, invalidate). A removed shape's
 * handle is never handed out again.
 */
import type pg from "pg";
import type { Logger } from "pino";
import { RETRY_AFTER_CREATE_FAILED_S } from "../constants.js";
import { InvalidRequestError, UnavailableError } from "../errors.js";
import type { Publication } from "../replication/publication.js";
import type { ShapeStore } from "../storage/shape-store.js";
import { Shape, type TailBudget } from "./shape.js";
import { definitionKey, generateHandle, observeHandle, type ShapeDefinition } from "./shape-definition.js";
import { runSnapshot } from "./snapshot.js";
import { loadTableInfo, type TableInfo, unknownTableError } from "./table-info.js";
import type { WhereEvaluator } from "./where-evaluator.js";
import { checkWhere } from "./where-grammar.js";

/** What the registry needs. */
export interface ShapeRegistryDeps {
  /** General pool (catalog reads, storage). */
  readonly pool: pg.Pool;
  /** Pool of snapshot transactions. */
  readonly snapshotPool: pg.Pool;
  /** Storage. */
  readonly store: ShapeStore;
  /** Storage schema name (its tables cannot be shapes). */
  readonly storageSchema: string;
  /** Where validation. */
  readonly evaluator: WhereEvaluator;
  /** Publication management. */
  readonly publication: Publication;
  /** Bytes per chunk. */
  readonly chunkBytesThreshold: number;
  /** Per-shape and total in-memory tail limits. */
  readonly tailBytesPerShape: number;
  /** Total in-memory tail limit. */
  readonly tailBytesTotal: number;
  /** Called with the handle of every removed shape, so its storage is cleaned up. */
  readonly onRemoved: (handle: string) => void;
  /** Logger. */
  readonly logger: Logger;
  /** Aborted at shutdown: running snapshots stop. */
  readonly closing: AbortSignal;
}

/** Why a shape was removed. */
export type RemovalReason = "deleted" | "rotated" | "truncated" | "schema-changed" | "failed";

/** The set of live shapes. */
export class ShapeRegistry {
  readonly #deps: ShapeRegistryDeps;
  readonly #byKey = new Map<string, Shape>();
  readonly #byHandle = new Map<string, Shape>();
  readonly #byTable = new Map<number, Set<Shape>>();
  readonly #creating = new Map<string, Promise<Shape>>();
  readonly #snapshots = new Set<Promise<void>>();
  readonly #tailBudget: TailBudget;

  constructor(deps: ShapeRegistryDeps) {
    this.#deps = deps;
    this.#tailBudget = {
      perShapeBytes: () =>
        Math.min(deps.tailBytesPerShape, Math.floor(deps.tailBytesTotal / Math.max(1, this.#byHandle.size))),
    };
  }

  /** Loads the stored shapes (their tables must still exist, else they are dropped). */
  async load(): Promise<void> {
    for (const handle of await this.#deps.store.loadAllHandles()) observeHandle(handle);
    for (const stored of await this.#deps.store.loadReadyShapes()) {
      let table: TableInfo;
      try {
        table = await loadTableInfo(this.#deps.pool, stored.definition.relation);
        checkDefinitionWhere(table, stored.definition);
      } catch {
        this.#deps.onRemoved(stored.handle);
        continue;
      }
      const shape = new Shape({
        handle: stored.handle,
        definition: stored.definition,
        table,
        tailBudget: this.#tailBudget,
      });
      shape.restore(stored.snapshot, stored.snapshotChunks, stored.lastTx, stored.lastOp, stored.chunkEnds);
      this.#register(shape);
    }
  }

  /** Number of shapes. */
  get size(): number {
    return this.#byHandle.size;
  }

  /** All shapes. */
  list(): Shape[] {
    return [...this.#byHandle.values()];
  }

  /** The shape with this handle, if it is live. */
  byHandle(handle: string): Shape | undefined {
    return this.#byHandle.get(handle);
  }

  /** The live shape of a definition, if any. */
  byDefinition(definition: ShapeDefinition): Shape | undefined {
    return this.#byKey.get(definitionKey(definition));
  }

  /** Shapes of a table (by `pg_class.oid`), as a snapshot array. */
  shapesOfTable(oid: number): Shape[] {
    const set = this.#byTable.get(oid);
    return set ? [...set] : [];
  }

  /** True when some shape reads the table. */
  hasTable(oid: number): boolean {
    return (this.#byTable.get(oid)?.size ?? 0) > 0;
  }

  /**
   * The shape of `definition`, created when missing. Resolves once its snapshot has started, so
   * any change committed afterwards reaches its log.
   */
  async getOrCreate(definition: ShapeDefinition): Promise<Shape> {
    const key = definitionKey(definition);
    const existing = this.#byKey.get(key);
    if (existing) {
      await existing.snapshotStarted();
      return existing;
    }
    let pending = this.#creating.get(key);
    if (!pending) {
      pending = this.#create(definition, key)
        .catch((err: unknown) => {
          throw asRequestError(err, this.#deps.logger);
        })
        .finally(() => this.#creating.delete(key));
      this.#creating.set(key, pending);
    }
    return pending;
  }

  async #create(definition: ShapeDefinition, key: string): Promise<Shape> {
    const deps = this.#deps;
    if (definition.relation.schema === deps.storageSchema) throw unknownTableError(definition.relation);
    const table = await loadTableInfo(deps.pool, definition.relation);
    validateColumns(table, definition.columns);
    checkDefinitionWhere(table, definition);
    if (definition.where !== null) await deps.evaluator.validate(table, definition.where, definition.params);
    await deps.publication.addTable(table);
    const handle = generateHandle(definition);
    await deps.store.insertShape(handle, key, definition);
    const shape = new Shape({ handle, definition, table, tailBudget: this.#tailBudget });
    this.#register(shape);
    const snapshot = runSnapshot(shape, {
      pool: deps.snapshotPool,
      store: deps.store,
      chunkBytesThreshold: deps.chunkBytesThreshold,
      logger: deps.logger,
      signal: deps.closing,
    }).then(() => {
      this.#snapshots.delete(snapshot);
      if (!shape.snapshotComplete && !shape.gone) this.remove(shape, "failed");
    });
    this.#snapshots.add(snapshot);
    try {
      await shape.snapshotStarted();
    } catch (err) {
      this.remove(shape, "failed");
      throw err;
    }
    deps.logger.info(
      {
        shape_handle: handle,
        table: `${table.relation.schema}.${table.relation.table}`,
        where: definition.where,
      },
      "shape created",
    );
    return shape;
  }

  #register(shape: Shape): void {
    this.#byKey.set(shape.key, shape);
    this.#byHandle.set(shape.handle, shape);
    const set = this.#byTable.get(shape.table.oid) ?? new Set<Shape>();
    set.add(shape);
    this.#byTable.set(shape.table.oid, set);
  }

  /** Removes a shape: it stops receiving changes at once, its waiters answer 409. */
  remove(shape: Shape, reason: RemovalReason): void {
    if (this.#byHandle.get(shape.handle) !== shape) return;
    this.#byHandle.delete(shape.handle);
    if (this.#byKey.get(shape.key) === shape) this.#byKey.delete(shape.key);
    const set = this.#byTable.get(shape.table.oid);
    set?.delete(shape);
    if (set?.size === 0) this.#byTable.delete(shape.table.oid);
    shape.markGone();
    this.#deps.onRemoved(shape.handle);
    this.#deps.logger.info({ shape_handle: shape.handle, reason }, "shape removed");
  }

  /** Waits for running snapshots to end (they stop early once `closing` is aborted). */
  async drain(): Promise<void> {
    await Promise.all([...this.#snapshots]);
  }

  /** Replaces a shape by a new one with the same definition (a new handle); returns the new shape. */
  async rotate(shape: Shape): Promise<Shape> {
    this.remove(shape, "rotated");
    return this.getOrCreate(shape.definition);
  }
}

/**
 * Database failures while creating a shape become Electric's 503 "Failed to create shape, please
 * retry" (the client retries); request errors pass through.
 */
function asRequestError(err: unknown, logger: Logger): unknown {
  if (err instanceof InvalidRequestError || err instanceof UnavailableError) return err;
  if (err instanceof Error && typeof (err as Error & { code?: unknown }).code === "string") {
    logger.warn({ err }, "shape creation failed");
    return new UnavailableError("Failed to create shape, please retry", RETRY_AFTER_CREATE_FAILED_S, false, {
      cause: err,
    });
  }
  return err;
}

/**
 * Refuses a where clause outside Electric's grammar before any SQL runs (stored shapes from an
 * earlier version are checked again when loaded).
 */
function checkDefinitionWhere(table: TableInfo, definition: ShapeDefinition): void {
  if (definition.where === null) return;
  const columns = new Set(table.columns.map((c) => c.name));
  checkWhere(definition.where, { columns, paramCount: definition.params.length });
}

/** Checks the `columns` selection against the table (existence, primary key included). */
function validateColumns(table: TableInfo, columns: readonly string[] | null): void {
  if (columns === null) return;
  const known = new Set(table.columns.map((c) => c.name));
  const unknown = columns.filter((c) => !known.has(c));
  if (unknown.length > 0) {
    throw InvalidRequestError.field(
      "columns",
      `The following columns could not be found: ${unknown.join(", ")}`,
    );
  }
  const missing = table.pkColumns.filter((c) => !columns.includes(c));
  if (missing.length > 0) {
    throw InvalidRequestError.field(
      "columns",
      `The list of columns must include all primary key columns, missing: ${missing.join(", ")}`,
    );
  }
}
