import { createPgSyncClient, type GroupDelivery, type WakeEvent } from "@pg-sync/runtime";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { TOKENS } from "../../../scripts/lib/processes.js";
import { type Stack, startStack } from "../../../test/support/stack-fixture.js";
import { waitFor } from "../../../test/support/wait.js";
import { createPgSyncTools, groupNameFor, observeArgsSchema } from "../src/index.js";

let stack: Stack;

beforeAll(async () => {
  stack = await startStack();
  await stack.sql.query("CREATE TABLE todos (id int PRIMARY KEY, text text, done boolean DEFAULT false)");
});

afterAll(async () => {
  await stack?.close();
});

function tools(onWake: (e: WakeEvent) => void = () => {}) {
  const client = createPgSyncClient({ baseUrl: stack.url, token: TOKENS.a });
  return createPgSyncTools({ client, onWake });
}

describe("observe_pg_sync schema", () => {
  it.each([
    [{ table: "todos" }],
    [
      {
        url: "http://localhost:3000/v1/shape",
        table: "todos",
        columns: ["id", "text"],
        where: "done = $1",
        params: ["false"],
        replica: "full",
      },
    ],
    [{ table: "todos", params: { "1": "a", "2": "b" }, wake: { ops: ["insert"], debounceMs: 0 } }],
  ])("should accept upstream-style arguments %j", (args) => {
    expect(observeArgsSchema.safeParse(args).success).toBe(true);
  });

  it.each([
    ["blank table", { table: " " }],
    ["blank url", { table: "todos", url: "" }],
    ["database url", { table: "todos", url: "postgres://x" }],
    ["unknown op", { table: "todos", wake: { ops: ["upsert"] } }],
    ["negative debounce", { table: "todos", wake: { debounceMs: -1 } }],
    ["timeoutMs in wake", { table: "todos", wake: { timeoutMs: 5 } }],
  ])("should reject %s", (_name, args) => {
    expect(observeArgsSchema.safeParse(args).success).toBe(false);
  });

  it("should publish a JSON Schema with the upstream parameters", () => {
    const t = tools();
    const props = (t.observe.parameters as { properties: Record<string, unknown> }).properties;
    expect(Object.keys(props).sort()).toEqual([
      "columns",
      "params",
      "replica",
      "table",
      "url",
      "wake",
      "where",
    ]);
    t.close();
  });
});

describe("observe_pg_sync / unobserve_pg_sync", () => {
  it("should register, return the server's sourceRef, and deliver wakes; debounceMs 0 reaches the server as 0", async () => {
    const events: WakeEvent[] = [];
    const t = tools((e) => {
      events.push(e);
    });
    const result = await t.observe.execute({ table: "todos", wake: { ops: ["insert"], debounceMs: 0 } });
    expect(result.isError).toBeUndefined();
    const details = result.details as { sourceRef: string; wake: { debounceMs: number } };
    expect(details.sourceRef).toMatch(/^[0-9a-f]{16}$/);
    expect(details.wake.debounceMs).toBe(0);
    await waitFor(() => events.some((e) => e.type === "ready"), { what: "ready" });
    await stack.sql.query("INSERT INTO todos (id, text) VALUES (1, 'a'), (2, 'b')");
    // debounce 0 on the server: one wake per change, never coalesced.
    const wakes = await waitFor(
      () => {
        const w = events.flatMap((e) => (e.type === "wake" ? [e.wake] : []));
        return w.length >= 2 ? w : undefined;
      },
      { what: "2 wakes" },
    );
    expect(wakes.map((w) => w.changes.length)).toEqual([1, 1]);
    t.close();
  });

  it("should list observations, unobserve by table, and refuse an ambiguous table listing both", async () => {
    const t = tools();
    const one = (await t.observe.execute({ table: "todos", where: "id > 10" })).details as {
      sourceRef: string;
    };
    const two = (await t.observe.execute({ table: "todos", where: "id > 20" })).details as {
      sourceRef: string;
    };
    const listed = (await t.unobserve.execute({})).details as { observations: { sourceRef: string }[] };
    expect(listed.observations.map((o) => o.sourceRef).sort()).toEqual([one.sourceRef, two.sourceRef].sort());
    const ambiguous = await t.unobserve.execute({ table: "todos" });
    expect(ambiguous.isError).toBe(true);
    expect(
      (ambiguous.details as { matches: { sourceRef: string }[] }).matches.map((m) => m.sourceRef).sort(),
    ).toEqual([one.sourceRef, two.sourceRef].sort());
    expect(t.observations()).toHaveLength(2);
    const gone = await t.unobserve.execute({ sourceRef: one.sourceRef });
    expect(gone.details).toEqual({ unobserved: true, sourceRef: one.sourceRef });
    const byTable = await t.unobserve.execute({ table: "todos" });
    expect(byTable.details).toEqual({ unobserved: true, sourceRef: two.sourceRef });
    const unknown = await t.unobserve.execute({ sourceRef: "0000000000000000" });
    expect(unknown.isError).toBe(true);
    t.close();
  });

  it("should report invalid arguments without calling the server", async () => {
    const t = tools();
    const res = await t.observe.execute({ table: "" });
    expect(res.isError).toBe(true);
    expect(JSON.stringify(res.details)).toContain("table");
    expect(t.observations()).toHaveLength(0);
    t.close();
  });
});

describe("consumerGroup option: a wake is acknowledged when the agent's run ends", () => {
  it("should hold the wake while the run goes on, give it back when the run throws, and acknowledge it when the run resolves", async () => {
    await stack.sql.query("CREATE TABLE tasks (id int PRIMARY KEY, title text)");
    const client = createPgSyncClient({ baseUrl: stack.url, token: TOKENS.a });
    const runs: { attempt: number; id: unknown; ended?: "threw" | "resolved" }[] = [];
    let finish: () => void = () => {};
    const secondRunMayEnd = new Promise<void>((resolve) => {
      finish = resolve;
    });
    const t = createPgSyncTools({
      client,
      consumerGroup: { group: "agents", retryAfterMs: 50, memberName: "agent-1" },
      async onWake(event: WakeEvent, _observation, delivery?: GroupDelivery) {
        const run = {
          attempt: delivery?.attempt ?? 0,
          id: event.type === "wake" ? event.wake.changes[0]?.value?.id : undefined,
        } as (typeof runs)[number];
        runs.push(run);
        if (runs.length === 1) {
          run.ended = "threw";
          throw new Error("the agent crashed");
        }
        await secondRunMayEnd;
        run.ended = "resolved";
      },
    });
    const res = await t.observe.execute({ table: "tasks" });
    const details = res.details as { sourceRef: string; group: string; acknowledged: string };
    expect(details.group).toBe(groupNameFor({ group: "agents" }, details.sourceRef));
    expect(details.acknowledged).toBe("when the run ends");
    expect(t.observations()[0]?.group).toBe(details.group);
    const source = async () => {
      const { group } = await client.raw.getConsumerGroup({ group: details.group });
      return { members: group?.members ?? [], source: group?.sources[0] };
    };
    await waitFor(async () => (await source()).members.length === 1, { what: "the agent joined its group" });
    await stack.sql.query("INSERT INTO tasks VALUES (7, 'triage')");

    // The first run threw: the wake came back (attempt 2) and is held while the second run goes on.
    await waitFor(() => runs.length === 2, { what: "a second run of the same wake" });
    expect(runs.map((r) => [r.attempt, r.id, r.ended])).toEqual([
      [1, 7, "threw"],
      [2, 7, undefined],
    ]);
    const during = await source();
    expect(during.source?.inFlightCount).toBe(1);
    expect(during.members[0]?.memberName).toBe("agent-1");

    finish();
    const after = await waitFor(
      async () => {
        const s = (await source()).source;
        return s && s.inFlightCount === 0 && s.pendingCount === 0 ? s : undefined;
      },
      { what: "the wake acknowledged after the run ended" },
    );
    expect(after.acknowledgedSeq).toBe(after.deliveredSeq);
    expect(after.deadLetterCount).toBe(0);
    expect(runs[1]?.ended).toBe("resolved");
    t.close();
  });
});
