/**
 * Writes response bodies made of stored message JSON, either from memory or streamed from storage
 * page by page with backpressure, so a large snapshot chunk never sits in memory whole.
 */
import { once } from "node:events";
import type { ServerResponse } from "node:http";
import { joinAsJson } from "../shapes/messages.js";

/**
 * Sources of message JSON, in order: strings in memory or pages read lazily. One string may hold
 * several messages separated by `\n` (a stored transaction).
 */
export type MessageSource = readonly string[] | AsyncIterable<readonly string[]>;

function sseEvents(entries: readonly string[]): string {
  let out = "";
  for (const entry of entries) for (const message of entry.split("\n")) out += `data: ${message}\n\n`;
  return out;
}

async function write(res: ServerResponse, chunk: string): Promise<boolean> {
  if (res.destroyed || res.writableEnded) return false;
  if (!res.write(chunk)) {
    await Promise.race([once(res, "drain"), once(res, "close")]);
  }
  return !res.destroyed;
}

/** Writes `[m1,m2,...,trailer...]` and ends the response. */
export async function writeJsonArray(
  res: ServerResponse,
  source: MessageSource,
  trailer: readonly string[],
): Promise<void> {
  if (Array.isArray(source)) {
    const all =
      trailer.length > 0 ? [...(source as readonly string[]), ...trailer] : (source as readonly string[]);
    res.end(`[${all.join(",")}]`);
    return;
  }
  let first = true;
  if (!(await write(res, "["))) return;
  for await (const page of source as AsyncIterable<readonly string[]>) {
    if (page.length === 0) continue;
    if (!(await write(res, `${first ? "" : ","}${joinAsJson(page)}`))) return;
    first = false;
  }
  const tail = trailer.length > 0 ? `${first ? "" : ","}${trailer.join(",")}` : "";
  res.end(`${tail}]`);
}

/** Writes each message as an SSE `data:` event; returns false when the client went away. */
export async function writeSseEvents(res: ServerResponse, source: MessageSource): Promise<boolean> {
  if (Array.isArray(source)) {
    const list = source as readonly string[];
    if (list.length === 0) return !res.destroyed;
    return write(res, sseEvents(list));
  }
  for await (const page of source as AsyncIterable<readonly string[]>) {
    if (page.length === 0) continue;
    if (!(await write(res, sseEvents(page)))) return false;
  }
  return !res.destroyed;
}
