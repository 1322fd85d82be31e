export {
  type ConsumerGroupToolOptions,
  DEFAULT_RUN_RETRY_AFTER_MS,
  groupNameFor,
  type WakeHandler,
} from "./acknowledged-wakes.js";
export { type ObserveArgs, observeArgsSchema, type UnobserveArgs, unobserveArgsSchema } from "./schemas.js";
export {
  type AgentTool,
  createPgSyncTools,
  type Observation,
  type PgSyncToolsOptions,
  type ToolResult,
} from "./tools.js";
