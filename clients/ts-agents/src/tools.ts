import type { PgSyncClient, WakeEvent } from "@pg-sync/runtime";
import { z } from "zod";
import { type ObserveArgs, observeArgsSchema, type UnobserveArgs, unobserveArgsSchema } from "./schemas.js";

/** The result every tool returns: text for the model, structured details for the program. */
export interface ToolResult<D = unknown> {
  readonly content: readonly { readonly type: "text"; readonly text: string }[];
  readonly details: D;
  /** True when the call failed (bad arguments, server error). */
  readonly isError?: boolean;
}

/** A framework-neutral agent tool: JSON-Schema parameters plus an `execute` that validates them. */
export interface AgentTool<D = unknown> {
  readonly name: string;
  readonly label: string;
  readonly description: string;
  /** JSON Schema of the arguments (draft 2020-12). */
  readonly parameters: Record<string, unknown>;
  execute(args: unknown): Promise<ToolResult<D>>;
}

/** An active observation. */
export interface Observation {
  readonly sourceRef: string;
  readonly table: string;
  readonly wake: {
    readonly ops?: readonly ("insert" | "update" | "delete")[] | undefined;
    readonly debounceMs?: number | undefined;
  };
}

/** Options of {@link createPgSyncTools}. */
export interface PgSyncToolsOptions {
  /** The runtime client (from @pg-sync/runtime). */
  readonly client: PgSyncClient;
  /** Called for every event of an observation's WatchWakes stream (wakes, gaps, ready, status). */
  readonly onWake: (event: WakeEvent, observation: Observation) => void | Promise<void>;
  /** Called when an observation's stream fails for good. */
  readonly onError?: ((error: unknown, observation: Observation) => void) | undefined;
}

function text(details: unknown, isError = false): ToolResult {
  return {
    content: [{ type: "text", text: JSON.stringify(details) }],
    details,
    ...(isError ? { isError } : {}),
  };
}

function invalid(error: z.ZodError): ToolResult {
  return text(
    {
      error: "invalid arguments",
      issues: error.issues.map((i) => `${i.path.join(".") || "(args)"}: ${i.message}`),
    },
    true,
  );
}

/**
 * The `observe_pg_sync` and `unobserve_pg_sync` tools. Observing registers the source with the
 * server and starts a resuming WatchWakes stream whose events go to `onWake`; the result names the
 * server's sourceRef. Unobserving stops the stream (the server-side source stays registered).
 */
export function createPgSyncTools(options: PgSyncToolsOptions): {
  observe: AgentTool;
  unobserve: AgentTool;
  observations(): Observation[];
  close(): void;
} {
  const active = new Map<string, { observation: Observation; aborter: AbortController }>();

  const start = (observation: Observation) => {
    const aborter = new AbortController();
    active.set(observation.sourceRef, { observation, aborter });
    void (async () => {
      try {
        for await (const event of options.client.watchWakes({
          sourceRefs: [observation.sourceRef],
          ...(observation.wake.ops ? { ops: observation.wake.ops } : {}),
          ...(observation.wake.debounceMs !== undefined ? { debounceMs: observation.wake.debounceMs } : {}),
          signal: aborter.signal,
        })) {
          await options.onWake(event, observation);
        }
      } catch (err) {
        if (!aborter.signal.aborted) options.onError?.(err, observation);
      } finally {
        if (active.get(observation.sourceRef)?.aborter === aborter) active.delete(observation.sourceRef);
      }
    })();
  };

  const observe: AgentTool = {
    name: "observe_pg_sync",
    label: "Observe Postgres Sync",
    description:
      "Observe a Postgres table (through an Electric shape served by pg-sync) and wake on matching row changes. Returns the sourceRef to unobserve later.",
    parameters: z.toJSONSchema(observeArgsSchema) as Record<string, unknown>,
    async execute(args) {
      const parsed = observeArgsSchema.safeParse(args);
      if (!parsed.success) return invalid(parsed.error);
      const a: ObserveArgs = parsed.data;
      try {
        const { sourceRef } = await options.client.registerSource({
          table: a.table,
          ...(a.url !== undefined ? { url: a.url } : {}),
          ...(a.columns ? { columns: a.columns } : {}),
          ...(a.where !== undefined ? { where: a.where } : {}),
          ...(a.params !== undefined ? { params: a.params } : {}),
          ...(a.replica ? { replica: a.replica } : {}),
        });
        const wakeOptions = {
          ...(a.wake?.ops ? { ops: a.wake.ops } : {}),
          ...(a.wake?.debounceMs !== undefined ? { debounceMs: a.wake.debounceMs } : {}),
        };
        active.get(sourceRef)?.aborter.abort();
        start({ sourceRef, table: a.table, wake: wakeOptions });
        return text({ sourceRef, wake: { on: "change" as const, ...wakeOptions } });
      } catch (err) {
        return text({ error: (err as Error).message }, true);
      }
    },
  };

  const unobserve: AgentTool = {
    name: "unobserve_pg_sync",
    label: "Stop Observing Postgres Sync",
    description:
      "Stop observing a pg-sync source by sourceRef or by table; with no arguments, list active observations.",
    parameters: z.toJSONSchema(unobserveArgsSchema) as Record<string, unknown>,
    async execute(args) {
      const parsed = unobserveArgsSchema.safeParse(args ?? {});
      if (!parsed.success) return invalid(parsed.error);
      const a: UnobserveArgs = parsed.data;
      const list = [...active.values()]
        .map((x) => x.observation)
        .sort((x, y) => x.sourceRef.localeCompare(y.sourceRef));
      if (a.sourceRef === undefined && a.table === undefined) return text({ observations: list });
      let ref = a.sourceRef;
      if (ref === undefined) {
        const matches = list.filter((o) => o.table === a.table);
        if (matches.length === 0)
          return text(
            { error: `No active pg-sync observation of table ${a.table}.`, observations: list },
            true,
          );
        if (matches.length > 1) {
          return text(
            { error: `Table ${a.table} has ${matches.length} observations; pass a sourceRef.`, matches },
            true,
          );
        }
        ref = (matches[0] as Observation).sourceRef;
      }
      const entry = active.get(ref);
      if (!entry)
        return text(
          { error: `No active pg-sync observation found for sourceRef ${ref}.`, observations: list },
          true,
        );
      entry.aborter.abort();
      active.delete(ref);
      return text({ unobserved: true, sourceRef: ref });
    },
  };

  return {
    observe,
    unobserve,
    observations: () => [...active.values()].map((x) => x.observation),
    close() {
      for (const { aborter } of active.values()) aborter.abort();
      active.clear();
    },
  };
}
