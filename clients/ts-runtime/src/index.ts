export { Code, ConnectError } from "@connectrpc/connect";
export type {
  ConsumerGroup,
  ConsumerGroupSettings,
  DeadLetter,
} from "../gen/pgsync/v1/consumer_group_pb.js";
export { Ordering, SettleStatus } from "../gen/pgsync/v1/consumer_group_pb.js";
export type { Cursor } from "../gen/pgsync/v1/cursor_pb.js";
export type { Source } from "../gen/pgsync/v1/source_pb.js";
export { SourceState } from "../gen/pgsync/v1/source_pb.js";
export type { Change, Gap, Ready, SourceStatus, Wake } from "../gen/pgsync/v1/wake_pb.js";
export { GapReason, Operation } from "../gen/pgsync/v1/wake_pb.js";
export {
  type AckBatchOptions,
  DEFAULT_ACK_BATCH_SIZE,
  DEFAULT_ACK_BATCH_WINDOW_MS,
} from "./ack-batcher.js";
export {
  createPgSyncClient,
  type PgSyncClient,
  type PgSyncClientOptions,
  type RegisteredSource,
} from "./client.js";
export {
  type ConsumeOptions,
  consume,
  type GroupDelivery,
  type OrderingName,
  type SettleOutcome,
} from "./consume.js";
export { toProtoOptions } from "./options.js";
export { type PgSyncSource, pgSync } from "./pg-sync.js";
export {
  type CanonicalSourceOptions,
  canonicalJson,
  type SourceOptions,
  sourceRefFor,
} from "./source-ref.js";
export {
  type OperationName,
  type WakeEvent,
  type WakeStream,
  type WatchWakesOptions,
  watchWakes,
} from "./watch.js";
export {
  DEFAULT_RECONNECT_INITIAL_DELAY_MS,
  DEFAULT_RECONNECT_MAX_DELAY_MS,
  RESUME_TOKEN_TRAILER,
  reconnectDelayCapMs,
  shouldReconnect,
} from "./watch-resume.js";
