import { FetchError } from "@electric-sql/client";
import { describe, expect, it } from "vitest";
import { parseBatch } from "../../src/bridge/batch.js";
import { LEAN_MIN_BYTES } from "../../src/bridge/lean-bodies.js";
import { resumeOptions, shapeBatches } from "../../src/bridge/shape-batches.js";
import { shapeParamsFor } from "../../src/bridge/shape-params.js";
import type { StoredCursor } from "../../src/domain/change-log.js";
import { FakeFetch, insert, MUST_REFETCH, shapeResponse, UP_TO_DATE } from "../support/fake-electric.js";
import { storedCursor } from "../support/fakes.js";
import { waitFor } from "../support/wait.js";

const CURSOR: StoredCursor = storedCursor();

const options = (fake: FakeFetch, cursor = CURSOR) =>
  resumeOptions(
    "http://shape.test/v1/shape",
    shapeParamsFor({ table: "todos", replica: "full" }),
    cursor,
    fake.fetch,
  );

describe("shapeBatches", () => {
  it("should yield each batch with the handle and offset after it", async () => {
    const fake = new FakeFetch((_, n) =>
      n === 0 ? shapeResponse({ handle: "h1", offset: "3_1", messages: [insert(1), UP_TO_DATE] }) : "hang",
    );
    const aborter = new AbortController();
    const seen = [];
    for await (const batch of shapeBatches(options(fake), aborter.signal)) {
      seen.push(batch);
      aborter.abort();
    }
    expect(seen.map((b) => [b.handle, b.offset, b.messages.length])).toEqual([["h1", "3_1", 2]]);
    expect(fake.urls[0]?.searchParams.get("replica")).toBe("full");
  });

  it("should start a fresh source at offset now, without a handle", async () => {
    const fake = new FakeFetch(() => "hang");
    const aborter = new AbortController();
    const fresh = { ...CURSOR, shapeHandle: undefined, shapeOffset: undefined };
    const done = (async () => {
      for await (const _ of shapeBatches(options(fake, fresh), aborter.signal)) {
        // no batch arrives
      }
    })();
    await waitFor(() => fake.urls.length === 1, { what: "first request" });
    expect(fake.urls[0]?.searchParams.get("offset")).toBe("now");
    expect(fake.urls[0]?.searchParams.has("handle")).toBe(false);
    aborter.abort();
    await done;
    expect(fake.inits[0]?.signal?.aborted).toBe(true);
  });

  it("should throw the stream's error", async () => {
    const fake = new FakeFetch(() => new Response(JSON.stringify({ message: "no table" }), { status: 400 }));
    const iterate = async () => {
      for await (const _ of shapeBatches(options(fake), new AbortController().signal)) {
        // none
      }
    };
    await expect(iterate()).rejects.toBeInstanceOf(FetchError);
  });

  it("should make the next request while the consumer holds a batch of pipelineMinMessages, and yield in order", async () => {
    const fake = new FakeFetch((url, n) => {
      if (n === 0) return shapeResponse({ offset: "1_0", messages: [insert(1), UP_TO_DATE] });
      if (n === 1 && url.searchParams.get("live") === "true") {
        return shapeResponse({ offset: "2_0", messages: [insert(2), UP_TO_DATE] });
      }
      return "hang";
    });
    const aborter = new AbortController();
    const batches = shapeBatches(options(fake), aborter.signal, 1)[Symbol.asyncIterator]();
    const first = await batches.next();
    // Still holding the first batch (its commit in flight): the live request is already made.
    await waitFor(() => fake.urls.length >= 2, { what: "the live request during the first batch" });
    expect(fake.urls[1]?.searchParams.get("live")).toBe("true");
    expect(fake.urls[1]?.searchParams.get("offset")).toBe("1_0");
    const second = await batches.next();
    expect([first.value?.offset, second.value?.offset]).toEqual(["1_0", "2_0"]);
    expect(second.value?.messages.length).toBe(2);
    aborter.abort();
    await batches.return(undefined);
  });

  it("should yield a large body's changes whole, with their row values, though the client got them lean", async () => {
    const changes = Array.from({ length: 400 }, (_, i) => insert(i + 1, `title ${i + 1} `.repeat(8)));
    const fake = new FakeFetch((_, n) =>
      n === 0 ? shapeResponse({ offset: "9_0", messages: [...changes, UP_TO_DATE] }) : "hang",
    );
    const aborter = new AbortController();
    let yielded: unknown[] = [];
    for await (const batch of shapeBatches(options(fake), aborter.signal)) {
      yielded = batch.messages;
      aborter.abort();
    }
    expect(JSON.stringify(changes).length).toBeGreaterThan(LEAN_MIN_BYTES);
    expect(yielded).toEqual([...changes, UP_TO_DATE]);
  });

  it("should close the stream when the consumer leaves the loop", async () => {
    const fake = new FakeFetch((url) =>
      url.searchParams.get("live") === "true"
        ? "hang"
        : shapeResponse({ offset: "1_0", messages: [UP_TO_DATE] }),
    );
    for await (const _ of shapeBatches(options(fake), new AbortController().signal)) break;
    await waitFor(() => fake.inits.every((i) => i?.signal?.aborted), { what: "requests aborted" });
  });
});

describe("parseBatch", () => {
  it("should read changes in order and the control messages", () => {
    const batch = parseBatch([MUST_REFETCH, insert(1), insert(2), UP_TO_DATE], "9_0");
    expect(batch.mustRefetch).toBe(true);
    expect(batch.upToDate).toBe(true);
    expect(batch.changes.map((c) => [c.operation, c.offset, c.txids])).toEqual([
      ["insert", "1_0", ["1"]],
      ["insert", "2_0", ["2"]],
    ]);
  });
});
