// Type-checked (not run) under strict consumer settings, against the installed .d.ts files.
import { type AgentTool, createPgSyncTools } from "@pg-sync/agents";
import {
  type Change,
  createPgSyncClient,
  type PgSyncClient,
  pgSync,
  type WakeEvent,
  type WatchWakesOptions,
} from "@pg-sync/runtime";
import { type SourceOptions, sourceRefFor } from "@pg-sync/runtime/source-ref";

const options: SourceOptions = { table: "todos", where: process.env.WHERE, params: ["false"] };
const ref: string = sourceRefFor(options);
const client: PgSyncClient = createPgSyncClient({
  baseUrl: "http://127.0.0.1:50051",
  token: process.env.PGSYNC_TOKEN,
});
const watch: WatchWakesOptions = {
  sourceRefs: [ref, pgSync(options).sourceRef],
  debounceMs: undefined,
  ops: ["insert"],
};

export async function firstChange(): Promise<Change | undefined> {
  for await (const event of client.watchWakes(watch)) {
    const e: WakeEvent = event;
    if (e.type === "wake") return e.wake.changes[0];
  }
  return undefined;
}

export const tools: { observe: AgentTool; unobserve: AgentTool } = createPgSyncTools({
  client,
  onWake: (event: WakeEvent) => void event,
});
