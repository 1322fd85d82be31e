import type { GapReason } from "../domain/change-log.js";
import type {
  DeliveryState,
  DeliveryView,
  GroupRecord,
  NewDelivery,
  Ordering,
} from "../domain/consumer-group.js";
import type { Operation } from "../domain/source-options.js";

/** A stored group row. */
export interface GroupRow {
  tenant: string;
  group_name: string;
  ops: Operation[];
  debounce_ms: number;
  max_wait_ms: number;
  max_changes_per_wake: number;
  ack_timeout_ms: number;
  max_deliveries: number;
  ordering: Ordering;
  created_at: Date;
}

/** A delivery row as the claim reads it. */
export interface DeliveryRow {
  source_ref: string;
  first_seq: string;
  last_seq: string;
  kind: "wake" | "gap";
  change_count: number;
  keys: string[];
  gap_reason: GapReason | null;
  gap_detail: string | null;
  state: DeliveryState;
  attempt: number;
  attempt_base: number;
  /** Epoch ms (read as a number: cheaper to parse than a timestamp's text). */
  ack_deadline: number | null;
  /** Epoch ms. */
  available_at: number;
}

/** A delivery row with the view the ordering rules decide on. */
export type ViewRow = DeliveryView & { readonly row: DeliveryRow };

/**
 * The columns of {@link DeliveryRow}, from a deliveries row aliased `alias`. Times come as epoch
 * ms and `keys` as JSON: a claim reads hundreds of rows, and parsing timestamp text and array
 * literals in JavaScript was about a tenth of pg-sync's CPU per acknowledged wake.
 */
export function deliveryColumns(alias: string): string {
  const a = alias;
  return `${a}.source_ref, ${a}.first_seq, ${a}.last_seq, ${a}.kind, ${a}.change_count, to_json(${a}.keys) AS keys,
  ${a}.gap_reason, ${a}.gap_detail, ${a}.state, ${a}.attempt, ${a}.attempt_base,
  (extract(epoch FROM ${a}.ack_deadline) * 1000)::float8 AS ack_deadline,
  (extract(epoch FROM ${a}.available_at) * 1000)::float8 AS available_at`;
}

/** Maps a stored group row. */
export function groupFromRow(row: GroupRow): GroupRecord {
  return {
    tenant: row.tenant,
    group: row.group_name,
    createdAt: row.created_at,
    settings: {
      ops: row.ops,
      debounceMs: row.debounce_ms,
      maxWaitMs: row.max_wait_ms,
      maxChangesPerWake: row.max_changes_per_wake,
      ackTimeoutMs: row.ack_timeout_ms,
      maxDeliveries: row.max_deliveries,
      ordering: row.ordering,
    },
  };
}

/** The ordering rules' view of a row. */
export function toView(row: DeliveryRow): ViewRow {
  return {
    row,
    sourceRef: row.source_ref,
    firstSeq: BigInt(row.first_seq),
    state: row.state,
    attempt: row.attempt - row.attempt_base,
    keys: row.keys,
    ackDeadline: row.ack_deadline === null ? undefined : new Date(row.ack_deadline),
    availableAt: new Date(row.available_at),
  };
}

/** The delivery a row stores (wake or gap). */
export function toNewDelivery(row: DeliveryRow): NewDelivery {
  const firstSeq = BigInt(row.first_seq);
  const lastSeq = BigInt(row.last_seq);
  if (row.kind === "gap") {
    return {
      kind: "gap",
      firstSeq,
      lastSeq,
      reason: row.gap_reason ?? "retention",
      detail: row.gap_detail ?? "",
    };
  }
  return { kind: "wake", firstSeq, lastSeq, changeCount: row.change_count, keys: row.keys };
}
