import { create } from "@bufbuild/protobuf";
import {
  NamedParamsSchema,
  PositionalParamsSchema,
  Replica,
  type SourceOptions as SourceOptionsProto,
  SourceOptionsSchema,
} from "../gen/pgsync/v1/source_pb.js";
import type { SourceOptions } from "./source-ref.js";

/** Upstream-style options to the proto `SourceOptions` (presence kept: it changes the ref). */
export function toProtoOptions(options: SourceOptions): SourceOptionsProto {
  let params: SourceOptionsProto["params"] = { case: undefined };
  if (Array.isArray(options.params)) {
    params = {
      case: "positionalParams",
      value: create(PositionalParamsSchema, { values: [...options.params] }),
    };
  } else if (options.params) {
    params = {
      case: "namedParams",
      value: create(NamedParamsSchema, { values: { ...(options.params as Record<string, string>) } }),
    };
  }
  const replica =
    options.replica === "full"
      ? Replica.FULL
      : options.replica === "default"
        ? Replica.DEFAULT
        : Replica.UNSPECIFIED;
  return create(SourceOptionsSchema, {
    url: options.url,
    table: options.table,
    columns: options.columns ? [...options.columns] : [],
    where: options.where,
    params,
    replica,
    metadata: options.metadata ? { ...options.metadata } : {},
  });
}
