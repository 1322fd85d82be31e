import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { Operation } from "../../gen/pgsync/v1/wake_pb.js";
import { type Stack, startStack } from "../support/stack-fixture.js";

let stack: Stack;

beforeAll(async () => {
  stack = await startStack();
  await stack.sql.query("CREATE TABLE tickets (id int PRIMARY KEY, status text, title text)");
  await stack.sql.query("INSERT INTO tickets VALUES (1, 'open', 'one'), (2, 'closed', 'two')");
});

afterAll(async () => {
  await stack?.close();
});

describe("move-in and move-out (docs/api.md)", () => {
  it("should deliver an UPDATE into the where clause as an INSERT and one out of it as a DELETE", async () => {
    const { sourceRef } = await stack.a.registerSource({
      options: { table: "tickets", where: "status = 'open'" },
    });
    const aborter = new AbortController();
    const frames = stack.a
      .watchWakes({ sourceRefs: [sourceRef] }, { signal: aborter.signal })
      [Symbol.asyncIterator]();
    const seen: [Operation, string][] = [];
    try {
      expect((await frames.next()).value?.event.case).toBe("ready");
      await stack.sql.query("UPDATE tickets SET status = 'open' WHERE id = 2"); // moves in
      await stack.sql.query("UPDATE tickets SET status = 'closed' WHERE id = 1"); // moves out
      await stack.sql.query("UPDATE tickets SET title = 'TWO' WHERE id = 2"); // stays in
      while (seen.length < 3) {
        const frame = (await frames.next()).value;
        if (frame?.event.case !== "wake") continue;
        for (const c of frame.event.value.changes) seen.push([c.operation, String(c.value?.id)]);
      }
    } finally {
      aborter.abort();
    }
    expect(seen).toEqual([
      [Operation.INSERT, "2"],
      [Operation.DELETE, "1"],
      [Operation.UPDATE, "2"],
    ]);
  });
});
