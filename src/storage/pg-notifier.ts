import pg from "pg";
import { type Backoff, createBackoff } from "../domain/backoff.js";
import type { LogEvent } from "../domain/log-entry.js";
import type { LogNotifier } from "../domain/ports.js";
import { sourceKey as keyOf } from "../domain/source-key.js";
import type { Logger } from "../logger.js";
import { CHANGES_CHANNEL, SOURCES_CHANNEL } from "./constants.js";

type Listener = (event: LogEvent) => void;

/**
 * One LISTEN connection per process on the change and source channels, fanned out in memory to
 * subscribers by (tenant, source_ref). Payloads only say "look again": the log stays the source
 * of truth. On a lost connection it reconnects with backoff and tells every subscriber to resync,
 * since notifications sent meanwhile are lost.
 */
export class PgNotifier implements LogNotifier {
  readonly #connectionString: string;
  readonly #logger: Logger;
  readonly #backoff: Backoff;
  readonly #listeners = new Map<string, Set<Listener>>();
  readonly #stop = new AbortController();
  #client: pg.Client | undefined;
  #ready: Promise<void> | undefined;

  constructor(
    connectionString: string,
    logger: Logger,
    backoff: Backoff = createBackoff({ maxDelayMs: 5_000 }),
  ) {
    this.#connectionString = connectionString;
    this.#logger = logger;
    this.#backoff = backoff;
  }

  /** Connects and LISTENs; resolves once listening. */
  start(): Promise<void> {
    this.#ready ??= this.#connect(0);
    return this.#ready;
  }

  /** Number of subscriptions (for leak checks). */
  get subscriptions(): number {
    let n = 0;
    for (const set of this.#listeners.values()) n += set.size;
    return n;
  }

  subscribe(tenant: string, sourceRef: string, listener: Listener): () => void {
    const key = keyOf(tenant, sourceRef);
    let set = this.#listeners.get(key);
    if (!set) {
      set = new Set();
      this.#listeners.set(key, set);
    }
    set.add(listener);
    return () => {
      const current = this.#listeners.get(key);
      if (!current) return;
      current.delete(listener);
      if (current.size === 0) this.#listeners.delete(key);
    };
  }

  /** Closes the connection. */
  async stop(): Promise<void> {
    this.#stop.abort();
    await this.#client?.end().catch(() => {});
  }

  async #connect(attempt: number): Promise<void> {
    while (!this.#stop.signal.aborted) {
      const client = new pg.Client({
        connectionString: this.#connectionString,
        application_name: "pg-sync-notifier",
      });
      try {
        await client.connect();
        client.on("notification", (msg) => this.#onNotification(msg.channel, msg.payload));
        client.on("error", (err) => this.#onLost(client, err));
        client.on("end", () => this.#onLost(client, new Error("connection ended")));
        await client.query(`LISTEN ${CHANGES_CHANNEL}`);
        await client.query(`LISTEN ${SOURCES_CHANNEL}`);
        this.#client = client;
        if (attempt > 0) this.#broadcast({ type: "resync" });
        return;
      } catch (err) {
        await client.end().catch(() => {});
        this.#logger.warn(
          { err: { message: (err as Error).message }, attempt },
          "notifier connection failed; retrying",
        );
        await this.#backoff.wait(attempt++, this.#stop.signal);
      }
    }
  }

  #onLost(client: pg.Client, err: Error): void {
    if (this.#client !== client || this.#stop.signal.aborted) return;
    this.#client = undefined;
    this.#logger.warn({ err: { message: err.message } }, "notifier connection lost; reconnecting");
    client.end().catch(() => {});
    this.#ready = this.#connect(1);
  }

  #broadcast(event: LogEvent): void {
    for (const set of this.#listeners.values()) for (const listener of [...set]) listener(event);
  }

  #onNotification(channel: string, payload: string | undefined): void {
    let data: { t?: unknown; r?: unknown; h?: unknown; s?: unknown; d?: unknown };
    try {
      data = JSON.parse(payload ?? "");
    } catch {
      return;
    }
    if (typeof data.t !== "string" || typeof data.r !== "string") return;
    const set = this.#listeners.get(keyOf(data.t, data.r));
    if (!set) return;
    let event: LogEvent;
    if (channel === CHANGES_CHANNEL) {
      event = { type: "appended", tenant: data.t, sourceRef: data.r, headSeq: BigInt(String(data.h ?? 0)) };
    } else {
      event = {
        type: "state",
        tenant: data.t,
        sourceRef: data.r,
        state: String(data.s ?? ""),
        deleted: data.d === true,
      };
    }
    for (const listener of [...set]) listener(event);
  }
}
