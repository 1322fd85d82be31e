import { type Message, type Row, ShapeStream } from "@electric-sql/client";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { createLeanBodies, type LeanBodies } from "../../src/bridge/lean-bodies.js";
import { JSON_SAFE_PARSER, NO_CLIENT_RETRIES } from "../../src/bridge/shape-batches.js";
import { FakeFetch, shapeResponse, UP_TO_DATE } from "../support/fake-electric.js";

/** Every scalar type the client parses, nullable or not, plus one it does not know. */
const SCHEMA = {
  id: { type: "int8", not_null: true, pk_index: 0 },
  small: { type: "int2" },
  n: { type: "int4", not_null: true },
  f4: { type: "float4" },
  f8: { type: "float8" },
  flag: { type: "bool" },
  doc: { type: "jsonb" },
  j: { type: "json" },
  amount: { type: "numeric" },
  note: { type: "text" },
};

type Values = Record<string, string | null>;

const nullable = <T>(a: fc.Arbitrary<T>) => fc.option(a, { nil: null });
const numeric = fc.oneof(
  fc.integer().map(String),
  fc.double().map(String),
  fc.constantFrom("NaN", "Infinity"),
);
const jsonText = fc.jsonValue().map((v) => JSON.stringify(v));

const rowValues: fc.Arbitrary<Values> = fc.record({
  id: fc.bigInt({ min: -(2n ** 63n), max: 2n ** 63n - 1n }).map(String),
  small: nullable(fc.integer({ min: -32768, max: 32767 }).map(String)),
  n: fc.integer().map(String),
  f4: nullable(numeric),
  f8: nullable(numeric),
  flag: nullable(fc.constantFrom("t", "f", "true", "false")),
  doc: nullable(jsonText),
  j: nullable(jsonText),
  amount: nullable(numeric),
  note: nullable(fc.string()),
  unknown_column: nullable(fc.string()),
});

function change(i: number, value: Values, oldValue?: Values, logged = true): Message<Row<unknown>> {
  return {
    key: `"public"."typed"/"${i}"`,
    value,
    ...(oldValue ? { old_value: oldValue } : {}),
    headers: {
      operation: oldValue ? "update" : "insert",
      relation: ["public", "typed"],
      ...(logged ? { lsn: String(1000 + i), op_position: i * 2, txids: [700 + i] } : {}),
    },
  } as unknown as Message<Row<unknown>>;
}

/** A message that is neither a change nor a control message (an Electric move-out event). */
const MOVE_OUT = { headers: { event: "move-out", patterns: [] } } as unknown as Message<Row<unknown>>;

/**
 * The messages the real Electric client publishes for one response body, with `lean` in front of
 * its fetch (and its restore applied) or without.
 */
async function publish(body: readonly Message<Row<unknown>>[], schema: object, lean: boolean, minBytes = 0) {
  const fake = new FakeFetch((_, n) =>
    n === 0 ? shapeResponse({ offset: "9_0", messages: body, schema: JSON.stringify(schema) }) : "hang",
  );
  const bodies: LeanBodies | undefined = lean
    ? createLeanBodies(fake.fetch, JSON_SAFE_PARSER, minBytes)
    : undefined;
  const aborter = new AbortController();
  const stream = new ShapeStream<Row<unknown>>({
    url: "http://shape.test/v1/shape",
    params: { table: "typed" },
    parser: JSON_SAFE_PARSER,
    backoffOptions: NO_CLIENT_RETRIES,
    fetchClient: bodies?.fetch ?? fake.fetch,
    signal: aborter.signal,
  });
  try {
    return await new Promise<Message<Row<unknown>>[]>((resolve, reject) => {
      stream.subscribe((messages) => resolve(bodies ? bodies.restore(messages) : messages), reject);
    });
  } finally {
    aborter.abort();
  }
}

/** The body the lean fetch hands the client, for a response of `body`. */
async function handedText(body: readonly Message<Row<unknown>>[], schema: object = SCHEMA): Promise<string> {
  const base = async () => shapeResponse({ offset: "9_0", messages: body, schema: JSON.stringify(schema) });
  return (await createLeanBodies(base, JSON_SAFE_PARSER, 0).fetch("http://shape.test/v1/shape")).text();
}

describe("createLeanBodies", () => {
  it("should publish exactly the messages the client's own parse publishes", async () => {
    // Changes (some without an lsn, as snapshot rows come) with other messages between them.
    const item = fc.oneof(
      { weight: 8, arbitrary: fc.tuple(rowValues, fc.option(rowValues, { nil: undefined }), fc.boolean()) },
      { weight: 1, arbitrary: fc.constant(MOVE_OUT) },
    );
    await fc.assert(
      fc.asyncProperty(fc.array(item, { maxLength: 20 }), async (items) => {
        const body = [
          ...items.map((it, i) => (Array.isArray(it) ? change(i, it[0], it[1], it[2]) : MOVE_OUT)),
          UP_TO_DATE,
        ];
        const viaClient = await publish(structuredClone(body), SCHEMA, false);
        const viaLean = await publish(structuredClone(body), SCHEMA, true);
        expect(viaLean).toEqual(viaClient);
      }),
      { numRuns: 80 },
    );
  });

  it("should hand the client each change without its row values, and give them back parsed", async () => {
    const body = [change(1, { id: "9007199254740993", n: "7", note: "secret-ish text" }), UP_TO_DATE];
    const handed = await handedText(body);
    expect(handed).not.toContain("secret-ish text");
    expect(JSON.parse(handed)[0].headers).toEqual({ operation: "insert", lsn: "1001" });
    const [restored] = await publish(body, SCHEMA, true);
    expect((restored as { value: unknown }).value).toEqual({
      id: "9007199254740993",
      n: 7,
      note: "secret-ish text",
    });
  });

  it("should hand the body unchanged when the client would refuse or parse it its own way", async () => {
    const nullInNotNull = [change(1, { id: "1", n: null }), UP_TO_DATE];
    const text = JSON.stringify(nullInNotNull);
    expect(await handedText(nullInNotNull)).toBe(text);
    const arrays = { ...SCHEMA, tags: { type: "text", dims: 1 } };
    const withArray = [change(1, { id: "1", n: "2", tags: "{a,b}" }), UP_TO_DATE];
    expect(await handedText(withArray, arrays)).toBe(JSON.stringify(withArray));
    expect(await handedText([UP_TO_DATE], { id: "not a column" })).toBe(JSON.stringify([UP_TO_DATE]));
    // The client still refuses the null itself.
    await expect(publish(nullInNotNull, SCHEMA, true)).rejects.toThrow(/null/i);
  });

  it("should leave small bodies to the client", async () => {
    const body = [change(1, { id: "1", n: "2" }), UP_TO_DATE];
    const base = async () => shapeResponse({ offset: "9_0", messages: body, schema: JSON.stringify(SCHEMA) });
    const response = await createLeanBodies(base, JSON_SAFE_PARSER).fetch("http://shape.test/v1/shape");
    expect(await response.text()).toBe(JSON.stringify(body));
  });

  it("should not read a body whose content-length says it is small", async () => {
    const small = shapeResponse({ offset: "9_0", messages: [UP_TO_DATE], schema: JSON.stringify(SCHEMA) });
    small.headers.set("content-length", "64");
    const lean = createLeanBodies(async () => small, JSON_SAFE_PARSER);
    const handed = await lean.fetch("http://shape.test/v1/shape");
    expect(handed).toBe(small);
    expect(handed.bodyUsed).toBe(false);
  });

  it("should not be fooled by a body that carries a mark of its own", async () => {
    const handed = JSON.parse(await handedText([change(1, { id: "1", n: "2" }), UP_TO_DATE]));
    const mark = Object.keys(handed[0]).find((k) => k.startsWith("pgsync-")) as string;
    expect(mark).toBeDefined();
    // Another stream's mark name is another nonce: a forged mark is just an unknown field.
    const forged = { ...change(2, { id: "2", n: "3" }), [mark]: 0 };
    const [published] = await publish([forged, UP_TO_DATE], SCHEMA, true);
    expect((published as { value: unknown }).value).toEqual({ id: "2", n: 3 });
  });
});
