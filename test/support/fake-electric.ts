import type { Message, Row } from "@electric-sql/client";

/** Column types the fake shape log announces in `electric-schema`. */
const SCHEMA = JSON.stringify({ id: { type: "int4", pk_index: 0 }, title: { type: "text" } });

/**
 * Live cursors, unique per response: the Electric client suppresses an up-to-date whose cursor it
 * saw within the last minute for the same shape (its replay detection), as a real server's
 * time-based cursor never repeats.
 */
let nextCursor = 1;

/** Options of {@link shapeResponse}. */
export interface ShapeResponseOptions {
  readonly handle?: string;
  /** The `electric-offset` after the batch. */
  readonly offset: string;
  readonly messages?: readonly Message<Row<unknown>>[];
  /** Status; default 200. */
  readonly status?: number;
  /** Headers to leave out (to fake a non-Electric endpoint). */
  readonly omit?: readonly string[];
  /** The `electric-schema` header; default: the fake `todos` table's. */
  readonly schema?: string;
}

/** An Electric shape-log response as the real server shapes it (headers, JSON array body). */
export function shapeResponse({
  handle = "h1",
  offset,
  messages = [],
  status = 200,
  omit = [],
  schema = SCHEMA,
}: ShapeResponseOptions): Response {
  const upToDate = messages.some((m) => (m.headers as { control?: string }).control === "up-to-date");
  const headers: Record<string, string> = {
    "content-type": "application/json",
    "electric-handle": handle,
    "electric-offset": offset,
    "electric-schema": schema,
    "electric-cursor": String(nextCursor++),
    ...(upToDate ? { "electric-up-to-date": "" } : {}),
  };
  for (const name of omit) delete headers[name];
  return new Response(JSON.stringify(messages), { status, headers });
}

/** An insert message for the fake table. */
export function insert(id: number, title = `row ${id}`, lsn = id): Message<Row<unknown>> {
  return {
    key: `"public"."todos"/"${id}"`,
    value: { id, title },
    headers: { operation: "insert", lsn: String(lsn), op_position: 0, txids: [lsn] },
  } as unknown as Message<Row<unknown>>;
}

/** The up-to-date control message. */
export const UP_TO_DATE = { headers: { control: "up-to-date" } } as unknown as Message<Row<unknown>>;
/** The must-refetch control message. */
export const MUST_REFETCH = { headers: { control: "must-refetch" } } as unknown as Message<Row<unknown>>;

/** What a {@link FakeFetch} answers: a response, an error to throw, or "hang" until aborted. */
export type FakeAnswer = Response | Error | "hang";

/**
 * A fetch that answers from a function of the request (and its number), records every request
 * and its init, and honours abort signals: the Electric client and the probe run unchanged on it.
 */
export class FakeFetch {
  /** Every request URL in order. */
  readonly urls: URL[] = [];
  /** Every request's init in order. */
  readonly inits: (RequestInit | undefined)[] = [];
  readonly #answer: (url: URL, n: number) => FakeAnswer | Promise<FakeAnswer>;

  constructor(answer: (url: URL, n: number) => FakeAnswer | Promise<FakeAnswer>) {
    this.#answer = answer;
  }

  /** The fetch function to inject. */
  readonly fetch: typeof fetch = async (input, init) => {
    const url = new URL(input instanceof Request ? input.url : input.toString());
    this.urls.push(url);
    this.inits.push(init);
    const signal = init?.signal ?? undefined;
    const answer = await this.#answer(url, this.urls.length - 1);
    if (answer === "hang") {
      return new Promise<Response>((_, reject) => {
        const fail = () => reject(signal?.reason ?? new DOMException("aborted", "AbortError"));
        if (signal?.aborted) fail();
        signal?.addEventListener("abort", fail, { once: true });
      });
    }
    if (answer instanceof Error) throw answer;
    return answer;
  };

  /** Requests that were not live long-polls. */
  get initialRequests(): URL[] {
    return this.urls.filter((u) => u.searchParams.get("live") !== "true");
  }
}
