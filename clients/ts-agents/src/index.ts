export { type ObserveArgs, observeArgsSchema, type UnobserveArgs, unobserveArgsSchema } from "./schemas.js";
export {
  type AgentTool,
  createPgSyncTools,
  type Observation,
  type PgSyncToolsOptions,
  type ToolResult,
} from "./tools.js";
