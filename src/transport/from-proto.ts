import type { WatchWakesRequest } from "../../gen/pgsync/v1/pg_sync_service_pb.js";
import { Replica, type SourceOptions as SourceOptionsProto } from "../../gen/pgsync/v1/source_pb.js";
import { Operation as ProtoOperation, StartPosition } from "../../gen/pgsync/v1/wake_pb.js";
import { InvalidSourceOptionsError } from "../domain/errors.js";
import type { Replica as DomainReplica, Operation, SourceOptions } from "../domain/source-options.js";
import type { WatchRequest } from "../domain/watch-service.js";

function replicaFromProto(replica: Replica): DomainReplica | undefined {
  switch (replica) {
    case Replica.UNSPECIFIED:
      return undefined;
    case Replica.DEFAULT:
      return "default";
    case Replica.FULL:
      return "full";
    default:
      throw new InvalidSourceOptionsError(
        "options.replica",
        `unknown value ${replica}; use REPLICA_DEFAULT or REPLICA_FULL`,
      );
  }
}

/**
 * Reads proto SourceOptions into the domain form (upstream `pgSync()` shape). `undefined` options
 * (a request without them) are reported as a missing table.
 */
export function sourceOptionsFromProto(proto: SourceOptionsProto | undefined): SourceOptions {
  if (!proto) throw new InvalidSourceOptionsError("options", "is required (at least options.table)");
  let params: SourceOptions["params"];
  switch (proto.params.case) {
    case "positionalParams":
      params = [...proto.params.value.values];
      break;
    case "namedParams":
      params = { ...proto.params.value.values };
      break;
    default:
      params = undefined;
  }
  const metadata = Object.keys(proto.metadata).length > 0 ? { ...proto.metadata } : undefined;
  const replica = replicaFromProto(proto.replica);
  return {
    ...(proto.url !== undefined ? { url: proto.url } : {}),
    table: proto.table,
    ...(proto.columns.length > 0 ? { columns: [...proto.columns] } : {}),
    ...(proto.where !== undefined ? { where: proto.where } : {}),
    ...(params !== undefined ? { params } : {}),
    ...(replica !== undefined ? { replica } : {}),
    ...(metadata ? { metadata } : {}),
  };
}

const OPERATION_FROM_PROTO: Record<number, Operation> = {
  [ProtoOperation.INSERT]: "insert",
  [ProtoOperation.UPDATE]: "update",
  [ProtoOperation.DELETE]: "delete",
};

/** Reads a WatchWakes request into the domain form (validated by the watch service). */
export function watchRequestFromProto(req: WatchWakesRequest): WatchRequest {
  let start: WatchRequest["start"];
  if (req.start.case === "resumeToken") start = { token: req.start.value };
  else {
    const position = req.start.case === "startPosition" ? req.start.value : StartPosition.UNSPECIFIED;
    start = {
      position:
        position === StartPosition.EARLIEST
          ? "earliest"
          : position === StartPosition.SNAPSHOT
            ? "snapshot"
            : "now",
    };
  }
  return {
    sourceRefs: req.sourceRefs,
    ops: req.ops.map((op) => OPERATION_FROM_PROTO[op] ?? "unspecified"),
    debounceMs: req.debounceMs,
    maxWaitMs: req.maxWaitMs,
    maxChangesPerWake: req.maxChangesPerWake,
    heartbeatIntervalMs: req.heartbeatIntervalMs,
    start,
    rebuildAfterGap: req.rebuildAfterGap,
  };
}
