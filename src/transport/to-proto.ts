import { create } from "@bufbuild/protobuf";
import { timestampFromDate } from "@bufbuild/protobuf/wkt";
import type { SourceRecord, SourceState as DomainSourceState } from "../domain/source.js";
import type { CanonicalSourceOptions } from "../domain/source-ref.js";
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
    shapeUrl: record.shapeUrl,
  });
}
