// Runs with plain node against the installed tarballs (no TypeScript, no server).
import { createPgSyncTools, observeArgsSchema } from "@pg-sync/agents";
import { Code, ConnectError, createPgSyncClient, Operation, pgSync } from "@pg-sync/runtime";
import { sourceRefFor } from "@pg-sync/runtime/source-ref";

const todos = pgSync({ table: "todos" });
if (todos.sourceRef !== "61b724fea24ae3c5" || sourceRefFor({ table: "todos" }) !== todos.sourceRef) {
  throw new Error(`unexpected source_ref ${todos.sourceRef}`);
}
const client = createPgSyncClient({ baseUrl: "http://127.0.0.1:9", token: process.env.PGSYNC_TOKEN });
try {
  await client.watchWakes({ sourceRefs: [todos.sourceRef], ops: ["upsert"] }).next();
  throw new Error("a bad operation was not rejected");
} catch (err) {
  if (!(err instanceof ConnectError) || err.code !== Code.InvalidArgument || !err.message.includes("ops[0]"))
    throw err;
}
const tools = createPgSyncTools({ client, onWake: () => {} });
if (tools.observe.name !== "observe_pg_sync" || !observeArgsSchema.safeParse({ table: "todos" }).success) {
  throw new Error("agent tools are missing");
}
console.log(`example ok: ${todos.sourceRef} ${Operation[Operation.INSERT]}`);
