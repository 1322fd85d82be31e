import type { LogMode } from "./change-log.js";
import type { CanonicalSourceOptions } from "./source-ref.js";

/** States of a source's bridge; see docs/design.md for the transitions. */
export type SourceState = "STARTING" | "LIVE" | "BACKING_OFF" | "FAILED" | "IDLE" | "STOPPED";

/** All source states. */
export const SOURCE_STATES: readonly SourceState[] = [
  "STARTING",
  "LIVE",
  "BACKING_OFF",
  "FAILED",
  "IDLE",
  "STOPPED",
];

/** A registered source as stored. */
export interface SourceRecord {
  /** Owning tenant (from authentication). */
  readonly tenant: string;
  /** Deterministic reference. */
  readonly sourceRef: string;
  /** Identity of this registration lifetime: changes when the source is deleted and registered again. */
  readonly incarnation: string;
  /** Canonical options (what the ref was computed from). */
  readonly options: CanonicalSourceOptions;
  /** Resolved shape endpoint. */
  readonly shapeUrl: string;
  /** Bridge state. */
  readonly state: SourceState;
  /** Last error, scrubbed; undefined when none. */
  readonly lastError: string | undefined;
  /** First registration. */
  readonly createdAt: Date;
  /** Last registration. */
  readonly registeredAt: Date;
  /** Last time a watcher watched it. */
  readonly watchedAt: Date | undefined;
  /** Last state or error change. */
  readonly updatedAt: Date;
  /** Identity of the policy row filter it was registered under (see domain/policy.ts); undefined when none. */
  readonly accessKey?: string | undefined;
}

/** Input of {@link SourceStore.upsert}. */
export interface UpsertSource {
  readonly tenant: string;
  readonly sourceRef: string;
  readonly options: CanonicalSourceOptions;
  readonly shapeUrl: string;
  /** Identity of the policy row filter applied, when one is (stored for access checks). */
  readonly accessKey?: string | undefined;
  /** First Electric cursor (from the registration probe); set only when the source has none yet. */
  readonly initialCursor?: {
    readonly shapeHandle: string;
    readonly shapeOffset: string;
    readonly logMode: LogMode;
  };
}

/** Persistence of sources, always scoped by tenant. */
export interface SourceStore {
  /** Inserts the source, or refreshes `registeredAt` when it exists; `created` tells which. Safe under concurrency. */
  upsert(input: UpsertSource): Promise<{ record: SourceRecord; created: boolean }>;
  /** The tenant's source, or undefined. */
  get(tenant: string, sourceRef: string): Promise<SourceRecord | undefined>;
  /**
   * The tenant's sources ordered by ref, strictly after `afterRef`, at most `limit`; with
   * `maxBytes`, only as many as fit in that many bytes of options and URL (at least one).
   */
  list(
    tenant: string,
    options: { afterRef?: string; limit: number; maxBytes?: number },
  ): Promise<SourceRecord[]>;
  /** Number of sources the tenant has. */
  count(tenant: string): Promise<number>;
  /** Deletes the source with its cursor and log; false when it did not exist. */
  delete(tenant: string, sourceRef: string): Promise<boolean>;
  /** Every tenant's sources whose bridge should run at start (STARTING, LIVE, BACKING_OFF, STOPPED). */
  listResumable(): Promise<SourceRecord[]>;
  /** Records that a watcher watched the sources now. */
  touchWatched(tenant: string, sourceRefs: readonly string[]): Promise<void>;
}
