import { Writable } from "node:stream";
import { Code, ConnectError, createContextValues, type StreamResponse } from "@connectrpc/connect";
import { describe, expect, it } from "vitest";
import { PgSyncService } from "../../gen/pgsync/v1/pg_sync_service_pb.js";
import { InvalidRequestError } from "../../src/domain/errors.js";
import { createLogger } from "../../src/logger.js";
import { createErrorInterceptor, createLoggingInterceptor } from "../../src/transport/interceptors.js";

type Next = Parameters<ReturnType<typeof createErrorInterceptor>>[0];

/** The logging and error interceptors around a handler whose stream is `messages`. */
function chain(messages: () => AsyncGenerator<number>) {
  const lines: Record<string, unknown>[] = [];
  const sink = new Writable({
    write(chunk: Buffer, _encoding, done) {
      lines.push(JSON.parse(chunk.toString()) as Record<string, unknown>);
      done();
    },
  });
  const logger = createLogger("debug", sink);
  const method = PgSyncService.method.consumeWakes;
  const handler: Next = async (req) =>
    ({
      stream: true,
      service: req.service,
      method,
      header: new Headers(),
      trailer: new Headers(),
      message: messages(),
    }) as unknown as StreamResponse;
  const next = createLoggingInterceptor(logger)(createErrorInterceptor()(handler));
  const req = {
    stream: true,
    service: PgSyncService,
    method,
    header: new Headers(),
    contextValues: createContextValues(),
    signal: new AbortController().signal,
  } as unknown as Parameters<Next>[0];
  const open = async () => {
    const res = (await next(req)) as StreamResponse;
    return (res.message as AsyncIterable<number>)[Symbol.asyncIterator]();
  };
  return { lines, open };
}

/** Reads until the stream ends or fails; returns the messages and the error. */
async function drain(it: AsyncIterator<number>): Promise<{ read: number[]; error?: ConnectError }> {
  const read: number[] = [];
  try {
    for (let r = await it.next(); !r.done; r = await it.next()) read.push(r.value);
  } catch (err) {
    return { read, error: err as ConnectError };
  }
  return { read };
}

describe("interceptors around a stream", () => {
  it("should log a stream once, after its last message, and stay ended", async () => {
    const { lines, open } = chain(async function* () {
      yield* [1, 2, 3];
    });
    const it = await open();
    expect((await it.next()).value).toBe(1);
    expect(lines).toEqual([]);
    const { read, error } = await drain(it);
    expect(read).toEqual([2, 3]);
    expect(error).toBeUndefined();
    expect(await it.next()).toEqual({ done: true, value: undefined });
    expect(lines.map((l) => [l.msg, l.code])).toEqual([["rpc", "OK"]]);
  });

  it("should map an error thrown mid-stream and log it once with its code", async () => {
    const { lines, open } = chain(async function* () {
      yield 1;
      throw new InvalidRequestError("group", "must not be empty");
    });
    const it = await open();
    const { read, error } = await drain(it);
    expect(read).toEqual([1]);
    expect(error).toBeInstanceOf(ConnectError);
    expect(error?.code).toBe(Code.InvalidArgument);
    expect(error?.rawMessage).toMatch(/^group:/);
    expect(await it.next()).toEqual({ done: true, value: undefined });
    expect(lines.map((l) => [l.msg, l.code])).toEqual([["rpc", "INVALID_ARGUMENT"]]);
  });

  it("should pass an early close through to the handler's stream", async () => {
    let cleaned = false;
    const { open } = chain(async function* () {
      try {
        yield* [1, 2, 3];
      } finally {
        cleaned = true;
      }
    });
    const it = await open();
    expect((await it.next()).value).toBe(1);
    await it.return?.();
    expect(cleaned).toBe(true);
    expect(await it.next()).toEqual({ done: true, value: undefined });
  });
});
