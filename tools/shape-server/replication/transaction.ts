/** Transactions as the replication client hands them to the ingest: committed, in commit order. */
import type { RowImage } from "../shapes/messages.js";

/** The relation a change belongs to, as the last Relation message described it. */
export interface ReplicatedRelation {
  /** `pg_class.oid`. */
  readonly oid: number;
  /** Schema name. */
  readonly schema: string;
  /** Table name. */
  readonly table: string;
  /** Columns with their type OIDs, in table order. */
  readonly columns: ReadonlyArray<{ readonly name: string; readonly typeOid: number }>;
}

/** One row change, or a truncate, or a (re)announcement of a relation's columns. */
export type ReplicatedChange =
  | { readonly kind: "insert"; readonly relation: ReplicatedRelation; readonly new: RowImage }
  | {
      readonly kind: "update";
      readonly relation: ReplicatedRelation;
      /** Full old row (REPLICA IDENTITY FULL), or null. */
      readonly old: RowImage | null;
      /** Old key columns when the key changed and the identity is not FULL, or null. */
      readonly key: RowImage | null;
      readonly new: RowImage;
    }
  | {
      readonly kind: "delete";
      readonly relation: ReplicatedRelation;
      readonly old: RowImage | null;
      readonly key: RowImage | null;
    }
  | { readonly kind: "truncate"; readonly relations: readonly ReplicatedRelation[] }
  | { readonly kind: "relation"; readonly relation: ReplicatedRelation };

/** A committed transaction. */
export interface ReplicatedTransaction {
  /** 32-bit transaction id. */
  readonly xid: number;
  /** LSN of the commit record (`Begin.final_lsn`): the `tx` part of offsets. */
  readonly commitLsn: bigint;
  /** End LSN of the commit record: what is acknowledged once stored. */
  readonly endLsn: bigint;
  /** Changes in commit order. */
  readonly changes: readonly ReplicatedChange[];
}
