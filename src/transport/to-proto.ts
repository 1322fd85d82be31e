import { create, type JsonObject } from "@bufbuild/protobuf";
import { timestampFromDate } from "@bufbuild/protobuf/wkt";
import { type Cursor, CursorSchema, LogMode } from "../../gen/pgsync/v1/cursor_pb.js";
import { type WatchWakesResponse, WatchWakesResponseSchema } from "../../gen/pgsync/v1/pg_sync_service_pb.js";
import {
  NamedParamsSchema,
  PositionalParamsSchema,
  Replica,
  type Source,
  type SourceOptions,
  SourceOptionsSchema,
  SourceSchema,
  SourceState,
} from "../../gen/pgsync/v1/source_pb.js";
import {
  type Change,
  ChangeSchema,
  GapReason,
  GapSchema,
  HeartbeatSchema,
  Operation,
  ReadySchema,
  SourcePositionSchema,
  SourceStatusSchema,
  WakeSchema,
} from "../../gen/pgsync/v1/wake_pb.js";
import type { GapReason as DomainGapReason } from "../domain/change-log.js";
import type { ChangeEntry } from "../domain/log-entry.js";
import { publicShapeUrl } from "../domain/shape-url.js";
import type { SourceState as DomainSourceState, SourceRecord } from "../domain/source.js";
import type { Operation as DomainOperation } from "../domain/source-options.js";
import type { CanonicalSourceOptions } from "../domain/source-ref.js";
import type { CursorReport } from "../domain/source-registry.js";
import type { WatchFrame } from "../domain/watch-frames.js";

const STATE_TO_PROTO: Record<DomainSourceState, SourceState> = {
  STARTING: SourceState.STARTING,
  LIVE: SourceState.LIVE,
  BACKING_OFF: SourceState.BACKING_OFF,
  FAILED: SourceState.FAILED,
  IDLE: SourceState.IDLE,
  STOPPED: SourceState.STOPPED,
};

/** Domain source state to proto. */
export function sourceStateToProto(state: DomainSourceState): SourceState {
  return STATE_TO_PROTO[state];
}

/** Canonical options to proto SourceOptions (the replica is always explicit there). */
export function sourceOptionsToProto(options: CanonicalSourceOptions): SourceOptions {
  let params: SourceOptions["params"] = { case: undefined };
  if (Array.isArray(options.params)) {
    params = { case: "positionalParams", value: create(PositionalParamsSchema, { values: options.params }) };
  } else if (options.params) {
    params = { case: "namedParams", value: create(NamedParamsSchema, { values: options.params }) };
  }
  return create(SourceOptionsSchema, {
    url: options.url,
    table: options.table,
    columns: options.columns ?? [],
    where: options.where,
    params,
    replica: options.replica === "full" ? Replica.FULL : Replica.DEFAULT,
    metadata: options.metadata ?? {},
  });
}

/** A stored source to the proto Source. */
export function sourceToProto(record: SourceRecord): Source {
  return create(SourceSchema, {
    sourceRef: record.sourceRef,
    options: sourceOptionsToProto(record.options),
    state: sourceStateToProto(record.state),
    lastError: record.lastError ?? "",
    createTime: timestampFromDate(record.createdAt),
    registerTime: timestampFromDate(record.registeredAt),
    watchTime: record.watchedAt ? timestampFromDate(record.watchedAt) : undefined,
    updateTime: timestampFromDate(record.updatedAt),
    // The stored URL may carry Electric's secret (PGSYNC_ELECTRIC_URL=...?secret=...): tenants get it without.
    shapeUrl: publicShapeUrl(record.shapeUrl),
  });
}

/** A GetCursor report to the proto Cursor. */
export function cursorToProto(report: CursorReport): Cursor {
  const { cursor } = report;
  return create(CursorSchema, {
    sourceRef: report.source.sourceRef,
    shapeHandle: cursor.shapeHandle ?? "",
    shapeOffset: cursor.shapeOffset ?? "",
    logMode: cursor.logMode === "full" ? LogMode.FULL : LogMode.CHANGES_ONLY,
    headSeq: cursor.headSeq,
    tailSeq: cursor.tailSeq,
    state: sourceStateToProto(report.status.state),
    lastError: report.status.lastError ?? "",
    upToDateTime: report.upToDateAt ? timestampFromDate(report.upToDateAt) : undefined,
    updateTime: timestampFromDate(cursor.updatedAt),
    generation: cursor.generation,
    owner: cursor.leaseLive ? (cursor.owner ?? "") : "",
    leaseExpireTime: cursor.leaseExpiresAt ? timestampFromDate(cursor.leaseExpiresAt) : undefined,
  });
}

const OPERATION_TO_PROTO: Record<DomainOperation, Operation> = {
  insert: Operation.INSERT,
  update: Operation.UPDATE,
  delete: Operation.DELETE,
};

const GAP_REASON_TO_PROTO: Record<DomainGapReason, GapReason> = {
  "must-refetch": GapReason.MUST_REFETCH,
  retention: GapReason.RETENTION,
  "source-reset": GapReason.SOURCE_RESET,
};

function changeToProto(entry: ChangeEntry, table: string): Change {
  return create(ChangeSchema, {
    key: entry.key,
    operation: OPERATION_TO_PROTO[entry.operation],
    value: entry.value as JsonObject,
    oldValue: entry.oldValue as JsonObject | undefined,
    offset: entry.offset,
    seq: entry.seq,
    table,
    txids: entry.txids.map((t) => BigInt(t)),
    snapshot: entry.snapshot === true,
  });
}

/** A watch frame to the WatchWakes response oneof. */
export function watchFrameToProto(frame: WatchFrame): WatchWakesResponse {
  return create(WatchWakesResponseSchema, { event: frameEvent(frame) });
}

function frameEvent(frame: WatchFrame): WatchWakesResponse["event"] {
  switch (frame.type) {
    case "ready":
      return {
        case: "ready",
        value: create(ReadySchema, {
          positions: frame.positions.map((p) =>
            create(SourcePositionSchema, { sourceRef: p.sourceRef, seq: p.seq }),
          ),
          resumeToken: frame.token,
        }),
      };
    case "wake":
      return {
        case: "wake",
        value: create(WakeSchema, {
          wakeId: frame.wakeId,
          sourceRef: frame.sourceRef,
          changes: frame.changes.map((c) => changeToProto(c, frame.table)),
          resumeToken: frame.token,
          firstSeq: frame.firstSeq,
          lastSeq: frame.lastSeq,
          snapshot: frame.snapshot === true,
        }),
      };
    case "gap":
      return {
        case: "gap",
        value: create(GapSchema, {
          sourceRef: frame.sourceRef,
          reason: GAP_REASON_TO_PROTO[frame.reason],
          fromSeq: frame.fromSeq,
          toSeq: frame.toSeq,
          detail: frame.detail,
          resumeToken: frame.token,
          rebuild: frame.rebuild === true,
        }),
      };
    case "heartbeat":
      return {
        case: "heartbeat",
        value: create(HeartbeatSchema, { resumeToken: frame.token, time: timestampFromDate(frame.time) }),
      };
    case "status":
      return {
        case: "status",
        value: create(SourceStatusSchema, {
          sourceRef: frame.sourceRef,
          state: sourceStateToProto(frame.state),
          deleted: frame.deleted,
          reason: frame.reason,
          resumeToken: frame.token,
        }),
      };
  }
}
