import { readFileSync } from "node:fs";
import { resolve } from "node:path";
import { create } from "@bufbuild/protobuf";
import { Code, ConnectError, createClient, createRouterTransport } from "@connectrpc/connect";
import { describe, expect, it } from "vitest";
import {
  PgSyncService,
  type WatchWakesRequest,
  type WatchWakesResponse,
  WatchWakesResponseSchema,
} from "../gen/pgsync/v1/pg_sync_service_pb.js";
import { GapReason, StartPosition } from "../gen/pgsync/v1/wake_pb.js";
import { reconnectDelayCapMs, type WakeEvent, type WatchWakesOptions, watchWakes } from "../src/index.js";

/** The shared client conformance vectors (test/vectors/client-conformance.json). */
interface Vectors {
  readonly backoff: { readonly initial_ms: number; readonly max_ms: number; readonly caps_ms: number[] };
  readonly watch: readonly WatchCase[];
  readonly invalid_arguments: readonly {
    name: string;
    args: Record<string, unknown>;
    argument: string;
  }[];
}
type Frame = Record<string, Record<string, unknown>>;
interface WatchCase {
  readonly name: string;
  readonly request: {
    source_refs: string[];
    start?: "now" | "earliest";
    resume_token?: string;
    max_attempts?: number;
  };
  readonly connections: readonly {
    frames: Frame[];
    end?: { code: string; message: string; trailer_resume_token?: string };
  }[];
  readonly expect: {
    opens: string[];
    yields: string[];
    outcome: "end" | { raise: string };
    reconnects: number;
    resume_token?: string;
  };
}

const VECTORS: Vectors = JSON.parse(
  readFileSync(resolve(import.meta.dirname, "../../../test/vectors/client-conformance.json"), "utf8"),
);

/** `RESOURCE_EXHAUSTED` → `Code.ResourceExhausted`. */
function codeOf(name: string): Code {
  const key = name.toLowerCase().replace(/(^|_)([a-z])/g, (_m, _s, c: string) => c.toUpperCase());
  const code = (Code as unknown as Record<string, Code>)[key];
  if (code === undefined) throw new Error(`unknown code ${name}`);
  return code;
}

function camel(snake: string): string {
  return snake.replace(/_([a-z])/g, (_m, c: string) => c.toUpperCase());
}

function frameOf(frame: Frame): WatchWakesResponse {
  const [kind, body] = Object.entries(frame)[0] as [string, Record<string, unknown>];
  const value: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(body)) {
    if (k === "reason") value.reason = GapReason[v as keyof typeof GapReason];
    else value[camel(k)] = typeof v === "number" && k.endsWith("_seq") ? BigInt(v) : v;
  }
  return create(WatchWakesResponseSchema, { event: { case: kind, value } as WatchWakesResponse["event"] });
}

function openOf(req: WatchWakesRequest): string {
  if (req.start.case === "resumeToken") return `token:${req.start.value}`;
  return req.start.value === StartPosition.EARLIEST ? "start:earliest" : "start:now";
}

function yieldOf(event: WakeEvent): string {
  if (event.type === "wake") return `wake:${event.wake.wakeId}`;
  if (event.type === "gap") return `gap:${GapReason[event.gap.reason]}`;
  return event.type;
}

/** An in-memory server that answers the n-th WatchWakes call with the case's n-th connection. */
function scriptedClient(c: WatchCase) {
  const requests: WatchWakesRequest[] = [];
  const transport = createRouterTransport(({ service }) => {
    service(PgSyncService, {
      async *watchWakes(req) {
        requests.push(req);
        const conn = c.connections[requests.length - 1];
        if (!conn) throw new ConnectError("unscripted connection", Code.DataLoss);
        for (const frame of conn.frames) yield frameOf(frame);
        if (conn.end) {
          const trailer = new Headers();
          if (conn.end.trailer_resume_token)
            trailer.set("pgsync-resume-token", conn.end.trailer_resume_token);
          throw new ConnectError(conn.end.message, codeOf(conn.end.code), trailer);
        }
      },
    });
  });
  return { client: createClient(PgSyncService, transport), requests };
}

const FAST = { reconnectInitialDelayMs: 1, reconnectMaxDelayMs: 2 } as const;

describe("client conformance vectors", () => {
  it.each(VECTORS.watch.map((c) => [c.name, c] as const))("watch: %s", async (_name, c) => {
    const { client, requests } = scriptedClient(c);
    const r = c.request;
    const stream = watchWakes(client, {
      sourceRefs: r.source_refs,
      ...(r.resume_token ? { start: { resumeToken: r.resume_token } } : r.start ? { start: r.start } : {}),
      ...(r.max_attempts ? { maxAttempts: r.max_attempts } : {}),
      ...FAST,
    });
    const yields: string[] = [];
    let outcome: "end" | { raise: string } = "end";
    try {
      for await (const event of stream) yields.push(yieldOf(event));
    } catch (err) {
      outcome = { raise: Code[ConnectError.from(err).code] ?? "?" };
    }
    const raised = typeof outcome === "object" ? outcome.raise : "end";
    const wanted =
      typeof c.expect.outcome === "object" ? camel(`_${c.expect.outcome.raise.toLowerCase()}`) : "end";
    expect({ yields, outcome: raised, opens: requests.map(openOf) }).toEqual({
      yields: c.expect.yields,
      outcome: wanted,
      opens: c.expect.opens,
    });
    expect(stream.reconnects).toBe(c.expect.reconnects);
    if (c.expect.resume_token !== undefined) expect(stream.resumeToken).toBe(c.expect.resume_token);
  });

  it.each(VECTORS.invalid_arguments.map((c) => [c.name, c] as const))(
    "rejects locally, naming the argument: %s",
    async (_name, c) => {
      const { client, requests } = scriptedClient({ connections: [] } as unknown as WatchCase);
      const options: Record<string, unknown> = { sourceRefs: ["61b724fea24ae3c5"], ...FAST };
      for (const [k, v] of Object.entries(c.args)) options[camel(k)] = v;
      let err: ConnectError | undefined;
      try {
        watchWakes(client, options as unknown as WatchWakesOptions); // throws before returning
      } catch (e) {
        err = ConnectError.from(e);
      }
      expect(err?.code).toBe(Code.InvalidArgument);
      expect(err?.rawMessage).toContain(camel(c.argument));
      expect(requests).toEqual([]);
    },
  );

  it("uses the shared backoff defaults", () => {
    const caps = VECTORS.backoff.caps_ms.map((_c, i) => reconnectDelayCapMs(i + 1));
    expect(caps).toEqual(VECTORS.backoff.caps_ms);
  });
});
