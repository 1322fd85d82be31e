import { create, fromBinary, type MessageInitShape, toBinary } from "@bufbuild/protobuf";
import * as grpc from "@grpc/grpc-js";
import {
  type RegisterSourceRequest,
  RegisterSourceRequestSchema,
  type RegisterSourceResponse,
  RegisterSourceResponseSchema,
} from "../../gen/pgsync/v1/pg_sync_service_pb.js";
import type { SourceOptionsSchema } from "../../gen/pgsync/v1/source_pb.js";

/** Calls RegisterSource with @grpc/grpc-js (a real gRPC client over HTTP/2), serialising with protobuf-es. */
export async function grpcJsRegister(
  baseUrl: string,
  token: string,
  options: MessageInitShape<typeof SourceOptionsSchema> & { table: string },
): Promise<RegisterSourceResponse> {
  const target = new URL(baseUrl).host;
  const client = new grpc.Client(target, grpc.credentials.createInsecure());
  const metadata = new grpc.Metadata();
  metadata.set("authorization", `Bearer ${token}`);
  try {
    return await new Promise<RegisterSourceResponse>((resolve, reject) => {
      client.makeUnaryRequest<RegisterSourceRequest, RegisterSourceResponse>(
        "/pgsync.v1.PgSyncService/RegisterSource",
        (req) => Buffer.from(toBinary(RegisterSourceRequestSchema, req)),
        (buf) => fromBinary(RegisterSourceResponseSchema, buf),
        create(RegisterSourceRequestSchema, { options }),
        metadata,
        (err, res) => (err || !res ? reject(err ?? new Error("no response")) : resolve(res)),
      );
    });
  } finally {
    client.close();
  }
}
