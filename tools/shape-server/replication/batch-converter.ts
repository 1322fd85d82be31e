/**
 * Turns a batch of replicated transactions into per-shape log entries:
 *
 *   route     each row change is recorded once per table (its row images once, whatever the
 *             number of shapes); truncates and schema changes remove the table's shapes
 *   evaluate  each distinct where clause of a table runs once over the batch's images (Postgres)
 *   convert   for each shape, only the changes its where matched (old or new image), minus
 *             transactions already in its snapshot, become messages, grouped per transaction
 *
 * The work is proportional to changes + matches, not changes × shapes.
 */
import type { Logger } from "pino";
import {
  convertChange,
  type Membership,
  type PendingMessage,
  type TxContext,
} from "../shapes/change-converter.js";
import type { RowImage } from "../shapes/messages.js";
import type { Shape, TailEntry } from "../shapes/shape.js";
import type { ShapeRegistry } from "../shapes/shape-registry.js";
import { columnSignature, type TableInfo } from "../shapes/table-info.js";
import type { WhereEvaluator } from "../shapes/where-evaluator.js";
import type { ChunkEnd } from "../storage/shape-store.js";
import type { ReplicatedChange, ReplicatedTransaction } from "./transaction.js";

/** What one shape gets from a batch. */
export interface ShapeOutput {
  /** One entry per transaction, in order. */
  readonly entries: TailEntry[];
  /** Chunk boundaries placed in this batch. */
  readonly chunkEnds: ChunkEnd[];
  /** Bytes since the last chunk boundary after this batch. */
  bytes: number;
}

/** What the converter needs. */
export interface BatchConverterDeps {
  readonly registry: ShapeRegistry;
  readonly evaluator: WhereEvaluator;
  readonly chunkBytesThreshold: number;
  readonly logger: Logger;
}

interface ChangeRef {
  readonly change: ReplicatedChange;
  /** Index of the transaction in the batch. */
  readonly tx: number;
  readonly op: number;
  /** Index of the old / new row image in the table's images, -1 when none. */
  oldIndex: number;
  newIndex: number;
}

interface ClauseGroup {
  readonly where: string;
  readonly params: readonly string[];
  readonly shapes: Shape[];
  /** Per image: 1 when the image satisfies the clause. */
  flags: Uint8Array | null;
  /** Indexes into `refs` of the changes with a matching image, ascending. */
  matches: number[] | null;
  failed: boolean;
}

interface TableBatch {
  readonly table: TableInfo | null;
  readonly shapes: Shape[];
  readonly images: RowImage[];
  readonly refs: ChangeRef[];
  /** Image index → index of its change in `refs`. */
  readonly imageRef: number[];
  /** Changes without an old image (identity not FULL): every clause considers them. */
  readonly unknown: number[];
  readonly clauses: Map<string, ClauseGroup>;
}

/** Converts batches for the ingest. */
export class BatchConverter {
  readonly #deps: BatchConverterDeps;

  constructor(deps: BatchConverterDeps) {
    this.#deps = deps;
  }

  /** Routes the batch (synchronously; shape removals happen here). */
  route(batch: readonly ReplicatedTransaction[]): Map<number, TableBatch> {
    const { registry } = this.#deps;
    const tables = new Map<number, TableBatch>();
    batch.forEach((tx, txIndex) => {
      let rowChange = 0;
      for (const change of tx.changes) {
        if (change.kind === "relation") {
          const signature = columnSignature(change.relation.columns);
          for (const shape of registry.shapesOfTable(change.relation.oid)) {
            if (columnSignature(shape.table.columns) !== signature) registry.remove(shape, "schema-changed");
          }
          continue;
        }
        if (change.kind === "truncate") {
          for (const relation of change.relations) {
            for (const shape of registry.shapesOfTable(relation.oid)) registry.remove(shape, "truncated");
          }
          continue;
        }
        const op = rowChange * 2;
        rowChange++;
        let tb = tables.get(change.relation.oid);
        if (!tb) {
          tb = newTableBatch(registry.shapesOfTable(change.relation.oid));
          tables.set(change.relation.oid, tb);
        }
        if (tb.shapes.length === 0) continue;
        const ref: ChangeRef = { change, tx: txIndex, op, oldIndex: -1, newIndex: -1 };
        const refIndex = tb.refs.length;
        tb.refs.push(ref);
        if (tb.clauses.size > 0) {
          if (change.kind !== "insert" && change.old) {
            ref.oldIndex = tb.images.push(change.old) - 1;
            tb.imageRef.push(refIndex);
          } else if (change.kind !== "insert") {
            tb.unknown.push(refIndex);
          }
          if (change.kind !== "delete") {
            ref.newIndex = tb.images.push(change.new) - 1;
            tb.imageRef.push(refIndex);
          }
        }
      }
    });
    return tables;
  }

  /** Runs the where clauses (one query per distinct clause and table). */
  async evaluate(tables: Map<number, TableBatch>): Promise<void> {
    const { evaluator, registry, logger } = this.#deps;
    const fail = (clause: ClauseGroup, err: unknown): void => {
      clause.failed = true;
      logger.warn({ err, where: clause.where }, "where evaluation failed; invalidating its shapes");
      for (const shape of clause.shapes) registry.remove(shape, "failed");
    };
    await Promise.all(
      [...tables.values()].map(async (tb) => {
        if (!tb.table || tb.clauses.size === 0 || tb.refs.length === 0) return;
        const clauses = [...tb.clauses.values()];
        try {
          const results = await evaluator.evaluate(tb.table, tb.images, clauses);
          results.forEach((result, i) => {
            const clause = clauses[i]!;
            if (result instanceof Error) {
              fail(clause, result);
              return;
            }
            const flags = new Uint8Array(tb.images.length);
            let matches: number[] = [];
            // images are in change order, so the matching changes come out ascending
            for (const imageIndex of result) {
              flags[imageIndex] = 1;
              const ref = tb.imageRef[imageIndex]!;
              if (matches[matches.length - 1] !== ref) matches.push(ref);
            }
            if (tb.unknown.length > 0) {
              matches = [...new Set([...matches, ...tb.unknown])].sort((a, b) => a - b);
            }
            clause.flags = flags;
            clause.matches = matches;
          });
        } catch (err) {
          if (!(err instanceof Error && "severity" in err)) throw err;
          for (const clause of clauses) fail(clause, err);
        }
      }),
    );
  }

  /** Builds each shape's entries (one per transaction, `last` on its final message). */
  convert(batch: readonly ReplicatedTransaction[], tables: Map<number, TableBatch>): Map<Shape, ShapeOutput> {
    const threshold = this.#deps.chunkBytesThreshold;
    const outputs = new Map<Shape, ShapeOutput>();
    const contexts = batch.map((tx): TxContext => ({ lsn: tx.commitLsn.toString(), xid: tx.xid }));
    for (const tb of tables.values()) {
      for (const shape of tb.shapes) {
        if (shape.gone || !shape.snapshotKnown) continue;
        const clause = shape.whereKey === null ? null : (tb.clauses.get(shape.whereKey) ?? null);
        if (clause?.failed) continue;
        const out: ShapeOutput = { entries: [], chunkEnds: [], bytes: shape.bytesSinceChunkEnd };
        let currentTx = -1;
        let skipTx = false;
        let pending: PendingMessage[] = [];
        const closeTx = (): void => {
          if (pending.length === 0) return;
          const tx = batch[currentTx]!.commitLsn;
          const n = pending.length;
          const body = pending.map((m, i) => m.serialize(i === n - 1)).join("\n");
          const op = pending[n - 1]!.op;
          out.entries.push({ tx, op, body });
          out.bytes += body.length;
          if (out.bytes >= threshold) {
            out.chunkEnds.push({ tx, op });
            out.bytes = 0;
          }
          pending = [];
        };
        const visit = (ref: ChangeRef): void => {
          if (ref.tx !== currentTx) {
            closeTx();
            currentTx = ref.tx;
            skipTx = shape.isInSnapshot(batch[ref.tx]!.xid);
          }
          if (skipTx) return;
          const membership = clause ? membershipOf(ref, clause.flags!) : ALL;
          for (const m of convertChange(shape, ref.change, membership, ref.op, contexts[ref.tx]!))
            pending.push(m);
        };
        if (clause) for (const index of clause.matches ?? []) visit(tb.refs[index]!);
        else for (const ref of tb.refs) visit(ref);
        closeTx();
        if (out.entries.length > 0) outputs.set(shape, out);
      }
    }
    return outputs;
  }
}

const ALL: Membership = { old: true, new: true };

function newTableBatch(shapes: Shape[]): TableBatch {
  const clauses = new Map<string, ClauseGroup>();
  for (const shape of shapes) {
    if (shape.whereKey === null) continue;
    let clause = clauses.get(shape.whereKey);
    if (!clause) {
      clause = {
        where: shape.definition.where!,
        params: shape.definition.params,
        shapes: [],
        flags: null,
        matches: null,
        failed: false,
      };
      clauses.set(shape.whereKey, clause);
    }
    clause.shapes.push(shape);
  }
  return {
    table: shapes[0]?.table ?? null,
    shapes,
    images: [],
    refs: [],
    imageRef: [],
    unknown: [],
    clauses,
  };
}

/**
 * Which images of a change satisfy the clause. Without a full old image (identity not FULL) the
 * old row's membership is unknown: assume it matches the new one for updates, and that deleted
 * rows were in the shape.
 */
function membershipOf(ref: ChangeRef, flags: Uint8Array): Membership {
  const isNew = ref.newIndex >= 0 && flags[ref.newIndex] === 1;
  if (ref.change.kind === "insert") return { old: false, new: isNew };
  const isOld = ref.oldIndex >= 0 ? flags[ref.oldIndex] === 1 : ref.change.kind === "delete" ? true : isNew;
  return { old: isOld, new: isNew };
}
