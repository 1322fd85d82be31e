import type {
  BatchCommit,
  CommitResult,
  LogMode,
  NewChange,
  NewGap,
  StoredCursor,
} from "../../src/domain/change-log.js";
import { FencedError } from "../../src/domain/errors.js";
import type { CursorStore } from "../../src/domain/ports.js";
import type { SourceState } from "../../src/domain/source.js";

/** One source in the {@link InMemoryCursorStore}. */
export interface FakeSource {
  shapeHandle: string | undefined;
  shapeOffset: string | undefined;
  logMode: LogMode;
  generation: bigint;
  owner: string | undefined;
  upToDateAt: Date | undefined;
  /** The log: changes and gaps in seq order. */
  log: (NewChange | NewGap)[];
  /** Every persisted (state, lastError), in order. */
  states: [SourceState, string | undefined][];
}

/**
 * A CursorStore in memory with the Postgres store's contract: claims bump the generation, a commit
 * at a stale generation throws {@link FencedError}, and a commit appends gap and changes and moves
 * the cursor at once. `gate` lets a test hold commits; `failNext` makes the next call throw.
 */
export class InMemoryCursorStore implements CursorStore {
  readonly sources = new Map<string, FakeSource>();
  /** Resolves held commits when set; a commit waits for it before applying. */
  gate: Promise<void> | undefined;
  /** Errors the next calls throw, in order (any method). */
  readonly failNext: unknown[] = [];
  /** Number of commits started (held ones included). */
  commitsStarted = 0;
  /** Every commit's change count and whether it was a partial one, in order. */
  readonly commitParts: { changes: number; partial: boolean }[] = [];

  #key(tenant: string, sourceRef: string) {
    return `${tenant}/${sourceRef}`;
  }

  /** Adds a source with an optional first cursor (as registration does). */
  add(
    tenant: string,
    sourceRef: string,
    cursor: { shapeHandle?: string; shapeOffset?: string; logMode?: LogMode } = {},
  ): FakeSource {
    const source: FakeSource = {
      shapeHandle: cursor.shapeHandle,
      shapeOffset: cursor.shapeOffset,
      logMode: cursor.logMode ?? "changes_only",
      generation: 0n,
      owner: undefined,
      upToDateAt: undefined,
      log: [],
      states: [],
    };
    this.sources.set(this.#key(tenant, sourceRef), source);
    return source;
  }

  /** The source (throws when absent). */
  source(tenant: string, sourceRef: string): FakeSource {
    const source = this.sources.get(this.#key(tenant, sourceRef));
    if (!source) throw new Error(`no source ${tenant}/${sourceRef}`);
    return source;
  }

  #maybeFail(): void {
    if (this.failNext.length > 0) throw this.failNext.shift();
  }

  #view(source: FakeSource): StoredCursor {
    return {
      shapeHandle: source.shapeHandle,
      shapeOffset: source.shapeOffset,
      logMode: source.logMode,
      headSeq: BigInt(source.log.length),
      tailSeq: source.log.length > 0 ? 1n : 0n,
      generation: source.generation,
      upToDateAt: source.upToDateAt,
      updatedAt: new Date(),
      owner: undefined,
      leaseExpiresAt: undefined,
      leaseLive: false,
    };
  }

  async claim(tenant: string, sourceRef: string, owner: string): Promise<StoredCursor | undefined> {
    this.#maybeFail();
    const source = this.sources.get(this.#key(tenant, sourceRef));
    if (!source) return undefined;
    source.generation += 1n;
    source.owner = owner;
    return this.#view(source);
  }

  async get(tenant: string, sourceRef: string): Promise<StoredCursor | undefined> {
    this.#maybeFail();
    const source = this.sources.get(this.#key(tenant, sourceRef));
    return source ? this.#view(source) : undefined;
  }

  async commit(batch: BatchCommit): Promise<CommitResult> {
    this.commitsStarted++;
    if (this.gate) await this.gate;
    this.#maybeFail();
    const source = this.sources.get(this.#key(batch.tenant, batch.sourceRef));
    if (!source || source.generation !== batch.generation) {
      throw new FencedError(batch.sourceRef, batch.generation);
    }
    const before = source.log.length;
    this.commitParts.push({ changes: batch.changes.length, partial: batch.partial === true });
    if (batch.gap) source.log.push(batch.gap);
    source.log.push(...batch.changes);
    if (batch.partial) return { headSeq: BigInt(source.log.length), appended: source.log.length - before };
    source.shapeHandle = batch.shapeHandle;
    source.shapeOffset = batch.shapeOffset;
    if (batch.upToDate) source.upToDateAt = new Date();
    return { headSeq: BigInt(source.log.length), appended: source.log.length - before };
  }

  async setState(
    tenant: string,
    sourceRef: string,
    state: SourceState,
    lastError: string | undefined,
  ): Promise<void> {
    this.#maybeFail();
    this.sources.get(this.#key(tenant, sourceRef))?.states.push([state, lastError]);
  }
}
