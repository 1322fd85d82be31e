/**
 * The ingest pipeline: replicated transactions are queued as they arrive, then taken in batches:
 * routed to the shapes of their tables (minus transactions already in a shape's snapshot),
 * filtered by where clauses (one Postgres query per distinct where and batch), converted to
 * messages, written to storage in one transaction together with the replication progress, and
 * only then acknowledged to Postgres and published to live requests.
 */
import type pg from "pg";
import type { Logger } from "pino";
import { INGEST_BATCH_MAX_CHANGES, INGEST_QUEUE_MAX_CHANGES } from "../constants.js";
import { delay, Notifier } from "../notifier.js";
import type { ShapeRegistry } from "../shapes/shape-registry.js";
import type { WhereEvaluator } from "../shapes/where-evaluator.js";
import type { ChunkEnd, LogEntry, ShapeStore } from "../storage/shape-store.js";
import { BatchConverter } from "./batch-converter.js";
import type { ReplicatedTransaction } from "./transaction.js";

/** The replication side the ingest drives. */
export interface ReplicationControl {
  /** Everything up to this commit end LSN is stored. */
  flushed(endLsn: bigint): void;
  /** Stop reading (queue full). */
  pause(): void;
  /** Resume reading. */
  resume(): void;
}

/** Server-wide replication progress. */
export interface Progress {
  /** Commit LSN of the last stored transaction (`global_last_seen_lsn`). */
  globalLsn: bigint;
  /** Notified when `globalLsn` advances. */
  readonly advanced: Notifier;
}

/** What the ingest needs. */
export interface IngestDeps {
  readonly pool: pg.Pool;
  readonly store: ShapeStore;
  readonly registry: ShapeRegistry;
  readonly evaluator: WhereEvaluator;
  readonly progress: Progress;
  readonly chunkBytesThreshold: number;
  readonly logger: Logger;
}

/** Where ingest time goes (cumulative). */
export interface IngestTiming {
  /** Batches written. */
  batches: number;
  /** Replicated transactions stored. */
  transactions: number;
  /** Replicated row changes processed. */
  changes: number;
  /** Log entries written (over all shapes). */
  entries: number;
  /** Routing to shapes (and waiting for new shapes' snapshots). */
  routeMs: number;
  /** Where evaluation queries. */
  evalMs: number;
  /** Conversion to messages (JSON). */
  convertMs: number;
  /** The storage transaction. */
  writeMs: number;
  /** Updating in-memory shapes, waking live requests, acknowledging. */
  publishMs: number;
}

const FAILURE_RETRY_MS = 1_000;
const RESUME_BELOW = INGEST_QUEUE_MAX_CHANGES / 2;

/** Queue and batch processor between replication and storage. */
export class Ingest {
  readonly #deps: IngestDeps;
  readonly #converter: BatchConverter;
  #replication: ReplicationControl | null = null;
  #queue: ReplicatedTransaction[] = [];
  #queuedChanges = 0;
  #paused = false;
  #drops = new Set<string>();
  readonly #wake = new Notifier();
  readonly #stop = new AbortController();
  #loop: Promise<void> | null = null;
  readonly #timing: IngestTiming = {
    batches: 0,
    transactions: 0,
    changes: 0,
    entries: 0,
    routeMs: 0,
    evalMs: 0,
    convertMs: 0,
    writeMs: 0,
    publishMs: 0,
  };

  constructor(deps: IngestDeps) {
    this.#deps = deps;
    this.#converter = new BatchConverter(deps);
  }

  /** Transactions queued and not yet stored. */
  get queuedTransactions(): number {
    return this.#queue.length;
  }

  /** Counters and cumulative durations of the batches written so far. */
  get timing(): Readonly<IngestTiming> {
    return this.#timing;
  }

  /** Starts processing; `replication` is acknowledged and paused/resumed from now on. */
  start(replication: ReplicationControl): void {
    this.#replication = replication;
    this.#loop ??= this.#run();
  }

  /** Stops after the batch in progress. */
  async stop(): Promise<void> {
    this.#stop.abort();
    this.#wake.notify();
    await this.#loop;
  }

  /** Queues a committed transaction (called synchronously by the replication client). */
  enqueue(tx: ReplicatedTransaction): void {
    this.#queue.push(tx);
    this.#queuedChanges += tx.changes.length;
    if (this.#queuedChanges > INGEST_QUEUE_MAX_CHANGES && !this.#paused) {
      this.#paused = true;
      this.#replication?.pause();
    }
    this.#wake.notify();
  }

  /** Removes a shape's stored data in the next write. */
  dropStorage(handle: string): void {
    this.#drops.add(handle);
    this.#wake.notify();
  }

  async #run(): Promise<void> {
    while (!this.#stop.signal.aborted) {
      if (this.#queue.length === 0 && this.#drops.size === 0) {
        await this.#wake.wait();
        continue;
      }
      const batch = this.#takeBatch();
      const drops = [...this.#drops];
      this.#drops.clear();
      try {
        await this.#process(batch, drops);
      } catch (err) {
        this.#deps.logger.error({ err }, "ingest batch failed; retrying");
        this.#queue = [...batch, ...this.#queue];
        for (const tx of batch) this.#queuedChanges += tx.changes.length;
        for (const handle of drops) this.#drops.add(handle);
        await delay(FAILURE_RETRY_MS, this.#stop.signal);
      }
    }
  }

  #takeBatch(): ReplicatedTransaction[] {
    let changes = 0;
    let count = 0;
    while (count < this.#queue.length && (count === 0 || changes < INGEST_BATCH_MAX_CHANGES)) {
      changes += this.#queue[count]!.changes.length;
      count++;
    }
    const batch = this.#queue.slice(0, count);
    this.#queue = this.#queue.slice(count);
    this.#queuedChanges -= changes;
    if (this.#paused && this.#queuedChanges < RESUME_BELOW) {
      this.#paused = false;
      this.#replication?.resume();
    }
    return batch;
  }

  async #process(batch: readonly ReplicatedTransaction[], drops: string[]): Promise<void> {
    const { registry, store, progress } = this.#deps;
    const timing = this.#timing;
    let mark = performance.now();
    const lap = (): number => {
      const now = performance.now();
      const elapsed = now - mark;
      mark = now;
      return elapsed;
    };
    await this.#awaitSnapshots(batch);
    const tables = this.#converter.route(batch);
    timing.routeMs += lap();
    await this.#converter.evaluate(tables);
    timing.evalMs += lap();
    const outputs = this.#converter.convert(batch, tables);
    const entries: LogEntry[] = [];
    const chunkEnds: Array<{ handle: string; end: ChunkEnd }> = [];
    for (const [shape, out] of outputs) {
      if (shape.gone) continue;
      for (const e of out.entries) entries.push({ handle: shape.handle, tx: e.tx, op: e.op, body: e.body });
      for (const end of out.chunkEnds) chunkEnds.push({ handle: shape.handle, end });
    }
    timing.convertMs += lap();
    const lastTx = batch[batch.length - 1];
    const allDrops = [...drops, ...this.#drops];
    this.#drops.clear();
    const client = await this.#deps.pool.connect();
    try {
      await store.writeIngest(client, {
        drops: allDrops,
        entries,
        chunkEnds,
        lsn: lastTx ? lastTx.commitLsn : progress.globalLsn,
      });
    } catch (err) {
      for (const handle of allDrops) this.#drops.add(handle);
      throw err;
    } finally {
      client.release();
    }
    timing.writeMs += lap();
    for (const [shape, out] of outputs) {
      if (!shape.gone && registry.byHandle(shape.handle) === shape) {
        shape.appendCommitted(out.entries, out.chunkEnds, out.bytes);
      }
    }
    if (lastTx) {
      if (lastTx.commitLsn > progress.globalLsn) progress.globalLsn = lastTx.commitLsn;
      progress.advanced.notify();
      this.#replication?.flushed(lastTx.endLsn);
    }
    timing.publishMs += lap();
    timing.batches++;
    timing.transactions += batch.length;
    for (const tx of batch) timing.changes += tx.changes.length;
    timing.entries += entries.length;
  }

  /** Shapes created just now must know their snapshot before their changes are filtered. */
  async #awaitSnapshots(batch: readonly ReplicatedTransaction[]): Promise<void> {
    const oids = new Set<number>();
    for (const tx of batch) {
      for (const change of tx.changes) {
        if (change.kind === "truncate") for (const r of change.relations) oids.add(r.oid);
        else oids.add(change.relation.oid);
      }
    }
    const waits: Promise<void>[] = [];
    for (const oid of oids) {
      for (const shape of this.#deps.registry.shapesOfTable(oid)) {
        waits.push(shape.snapshotStarted().catch(() => {}));
      }
    }
    await Promise.all(waits);
  }
}
