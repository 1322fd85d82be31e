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
