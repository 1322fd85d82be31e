import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { SourceState } from "../../gen/pgsync/v1/source_pb.js";
import { type Stack, startStack } from "../support/stack-fixture.js";
import { waitFor } from "../support/wait.js";

let stack: Stack;

beforeAll(async () => {
  stack = await startStack({ env: { PGSYNC_IDLE_TTL_MS: "300", PGSYNC_GC_INTERVAL_MS: "100" } });
  await stack.sql.query("CREATE TABLE items (id int PRIMARY KEY, title text)");
});

afterAll(async () => {
  await stack?.close();
});

describe("idle sources", () => {
  it("should stop an idle source after its TTL and bring it back on register", async () => {
    const options = { table: "items", where: "id >= 900" };
    const { sourceRef } = await stack.a.registerSource({ options });
    await waitFor(
      async () => {
        const { source } = await stack.a.getSource({ sourceRef });
        return source?.state === SourceState.IDLE ? true : undefined;
      },
      { what: "IDLE", timeoutMs: 20_000 },
    );
    expect(stack.server.bridges.isRunning("tenant-a", sourceRef)).toBe(false);
    await stack.a.registerSource({ options });
    expect(stack.server.bridges.isRunning("tenant-a", sourceRef)).toBe(true);
  });
});
