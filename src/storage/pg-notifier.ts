import pg from "pg";
import { type Backoff, createBackoff } from "../domain/backoff.js";
import type { LogEvent } from "../domain/log-entry.js";
import type { LogNotifier } from "../domain/ports.js";
import { sourceKey } from "../domain/source-key.js";
import type { Logger } from "../logger.js";
import { CHANGES_CHANNEL, SOURCES_CHANNEL } from "./constants.js";
import { parseNotification } from "./notification-payload.js";

type Listener = (event: LogEvent) => void;

/** A followed source's commits by this process, and the "appended" notifications they decide. */
interface LocalCommits {
  /** Commits in flight. */
  commits: number;
  /** Newest head announced to the subscribers. */
  announced: bigint;
  /** Newest head a NOTIFY reported while commits were in flight. */
  held: bigint | undefined;
  /** The incarnation `announced` belongs to (a source registered again starts its seqs over). */
  incarnation: string | undefined;
}

const NO_OP = (): void => {};

/** Shortest interval between two warnings about malformed payloads. */
const DROP_WARN_INTERVAL_MS = 10_000;

/**
 * One LISTEN connection per process on the change and source channels, fanned out in memory to
 * subscribers by (tenant, source_ref). Payloads only say "look again": the log and the sources
 * table stay the source of truth. Any role on the state database can NOTIFY these channels, so
 * every payload is validated; a malformed one is logged (rate-limited) and dropped, and a
 * listener's error never escapes into the connection's event handler. On a lost connection it
 * reconnects with backoff and tells every subscriber to resync, since notifications sent
 * meanwhile are lost.
 */
export class PgNotifier implements LogNotifier {
  readonly #connectionString: string;
  readonly #logger: Logger;
  readonly #backoff: Backoff;
  readonly #listeners = new Map<string, Set<Listener>>();
  /** This process's commits of followed sources (see {@link PgNotifier.localCommit}). */
  readonly #local = new Map<string, LocalCommits>();
  readonly #stop = new AbortController();
  #client: pg.Client | undefined;
  #ready: Promise<void> | undefined;
  /** Malformed payloads dropped since the last warning, and when that warning was logged. */
  #dropped = 0;
  #lastDropWarnAt = Number.NEGATIVE_INFINITY;

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

  /** Sources whose local commits this notifier tracks (for leak checks). */
  get localSources(): number {
    return this.#local.size;
  }

  /** Number of subscriptions (for leak checks). */
  get subscriptions(): number {
    let n = 0;
    for (const set of this.#listeners.values()) n += set.size;
    return n;
  }

  subscribe(tenant: string, sourceRef: string, listener: Listener): () => void {
    const key = sourceKey(tenant, sourceRef);
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
      if (current.size > 0) return;
      this.#listeners.delete(key);
      if (this.#local.get(key)?.commits === 0) this.#local.delete(key);
    };
  }

  /** Whether anyone in this process follows the source. */
  watching(tenant: string, sourceRef: string): boolean {
    return this.#listeners.has(sourceKey(tenant, sourceRef));
  }

  /**
   * A commit of this process to the source's log is starting. Returns its end, to be called once
   * with the log head it left (undefined when it appended nothing or failed): the subscribers hear
   * of the append at once, ahead of its NOTIFY. The NOTIFY arrives here too, and may arrive before
   * the commit's answer, so meanwhile "appended" notifications of the source wait for the end,
   * and one at or below a head already announced is dropped: readers are told once, after the
   * entries are committed (and kept in memory, see recent-log.ts), not twice. Heads are compared
   * within one incarnation: a commit of another one, or a source notification (a deletion, say),
   * forgets what was announced.
   */
  localCommit(
    tenant: string,
    sourceRef: string,
    incarnation: string | undefined,
  ): (headSeq: bigint | undefined) => void {
    const key = sourceKey(tenant, sourceRef);
    if (!this.#listeners.has(key)) return NO_OP;
    let local = this.#local.get(key);
    if (!local) {
      local = { commits: 0, announced: 0n, held: undefined, incarnation };
      this.#local.set(key, local);
    }
    if (local.incarnation !== incarnation) [local.announced, local.incarnation] = [0n, incarnation];
    local.commits++;
    const state = local;
    return (headSeq) => {
      state.commits--;
      if (headSeq !== undefined && headSeq > state.announced) {
        state.announced = headSeq;
        this.#dispatch({ type: "appended", tenant, sourceRef, headSeq });
      }
      if (state.commits > 0) return;
      const held = state.held;
      state.held = undefined;
      if (held !== undefined && held > state.announced) {
        this.#dispatch({ type: "appended", tenant, sourceRef, headSeq: held });
      }
      if (!this.#listeners.has(key)) this.#local.delete(key);
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
    for (const set of this.#listeners.values())
      for (const listener of [...set]) this.#deliver(listener, event);
  }

  #deliver(listener: Listener, event: LogEvent): void {
    try {
      listener(event);
    } catch (err) {
      this.#logger.error({ err: { message: (err as Error).message } }, "notification listener failed");
    }
  }

  #onNotification(channel: string, payload: string | undefined): void {
    const parsed = parseNotification(channel === CHANGES_CHANNEL ? "changes" : "sources", payload ?? "");
    if (!parsed.ok) {
      this.#onMalformed(channel, parsed.problem, (payload ?? "").length);
      return;
    }
    const event = parsed.event;
    if (event.type === "appended" && this.#heldBack(event.tenant, event.sourceRef, event.headSeq)) return;
    if (event.type === "source") {
      const local = this.#local.get(sourceKey(event.tenant, event.sourceRef));
      if (local) local.announced = 0n;
    }
    this.#dispatch(event);
  }

  /** Whether a local commit of the source already announced `headSeq`, or will decide about it. */
  #heldBack(tenant: string, sourceRef: string, headSeq: bigint): boolean {
    const local = this.#local.get(sourceKey(tenant, sourceRef));
    if (!local) return false;
    if (headSeq <= local.announced) return true;
    if (local.commits === 0) return false;
    if (local.held === undefined || headSeq > local.held) local.held = headSeq;
    return true;
  }

  #dispatch(event: Exclude<LogEvent, { type: "resync" }>): void {
    const set = this.#listeners.get(sourceKey(event.tenant, event.sourceRef));
    if (!set) return;
    for (const listener of [...set]) this.#deliver(listener, event);
  }

  /** Logs dropped payloads at most once per {@link DROP_WARN_INTERVAL_MS}, with a count. */
  #onMalformed(channel: string, problem: string, payloadChars: number): void {
    this.#dropped++;
    const now = performance.now();
    if (now - this.#lastDropWarnAt < DROP_WARN_INTERVAL_MS) return;
    this.#logger.warn(
      { channel, problem, payload_chars: payloadChars, dropped: this.#dropped },
      "malformed notification payload ignored",
    );
    this.#dropped = 0;
    this.#lastDropWarnAt = now;
  }
}
