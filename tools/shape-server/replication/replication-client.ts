/**
 * Streams committed transactions from the server's persistent pgoutput slot with
 * `pg-logical-replication`, in commit order, and acknowledges (flush LSN) only what the ingest
 * reports as durably stored. Reconnects with backoff when the connection drops or the slot is busy.
 */
import { LogicalReplicationService, type Pgoutput, PgoutputPlugin } from "pg-logical-replication";
import type { Logger } from "pino";
import {
  DISPLAY_SETTINGS,
  REPLICATION_RETRY_MAX_MS,
  REPLICATION_RETRY_MIN_MS,
  STATUS_INTERVAL_MS,
} from "../constants.js";
import { bigIntToLsn, lsnToBigInt } from "../lsn.js";
import { delay, Notifier } from "../notifier.js";
import type { ReplicatedChange, ReplicatedRelation, ReplicatedTransaction } from "./transaction.js";

/** Keeps pgoutput's text values as they are (the library would otherwise parse them with `pg` types). */
class RawTextPgoutputPlugin extends PgoutputPlugin {
  override parse(buffer: Buffer): Pgoutput.Message {
    const message = super.parse(buffer);
    if (message.tag === "relation") {
      for (const column of message.columns) column.parser = (raw: unknown) => raw;
    }
    return message;
  }
}

/** Options of {@link ReplicationClient}. */
export interface ReplicationClientOptions {
  /** Database URL. */
  readonly connectionString: string;
  /** Slot to stream from (it must exist). */
  readonly slotName: string;
  /** Publication to stream. */
  readonly publicationName: string;
  /** Transactions with a commit LSN at or below this were stored before; they are skipped. */
  readonly storedLsn: bigint;
  /** Receives each committed transaction, synchronously, in commit order. */
  readonly onTransaction: (tx: ReplicatedTransaction) => void;
  /** Logger. */
  readonly logger: Logger;
}

interface OpenTransaction {
  xid: number;
  commitLsn: bigint;
  skip: boolean;
  changes: ReplicatedChange[];
}

interface StreamHandle {
  _connection?: { stream?: { pause(): void; resume(): void } } | null;
}

const START_OPTIONS = DISPLAY_SETTINGS.map(([name, value]) => `-c ${name}=${value}`).join(" ");

/** The logical replication connection. */
export class ReplicationClient {
  readonly #options: ReplicationClientOptions;
  readonly #logger: Logger;
  readonly #relations = new Map<number, ReplicatedRelation>();
  readonly #stop = new AbortController();
  /** Notified whenever `ready` changes. */
  readonly readyChanged = new Notifier();
  #service: LogicalReplicationService | null = null;
  #running: Promise<void> | null = null;
  #ready = false;
  #paused = false;
  #open: OpenTransaction | null = null;
  #lastReceivedCommit: bigint;
  #receivedEnd = 0n;
  #flushedEnd = 0n;
  #serverLsn = 0n;
  #statusTimer: NodeJS.Timeout | null = null;
  #lastError: string | null = null;

  constructor(options: ReplicationClientOptions) {
    this.#options = options;
    this.#logger = options.logger;
    this.#lastReceivedCommit = options.storedLsn;
  }

  /** True while streaming. */
  get ready(): boolean {
    return this.#ready;
  }

  /** The last connection error, if any. */
  get lastError(): string | null {
    return this.#lastError;
  }

  /** Starts streaming in the background (reconnecting until {@link stop}). */
  start(): void {
    this.#running ??= this.#run();
    this.#statusTimer = setInterval(() => this.#sendStatus(), STATUS_INTERVAL_MS);
    this.#statusTimer.unref();
  }

  /** Everything up to `endLsn` (a commit's end LSN) is durably stored: acknowledge it. */
  flushed(endLsn: bigint): void {
    if (endLsn > this.#flushedEnd) this.#flushedEnd = endLsn;
    this.#sendStatus();
  }

  /** Stops reading from the socket (backpressure). */
  pause(): void {
    this.#paused = true;
    (this.#service as unknown as StreamHandle | null)?._connection?.stream?.pause();
  }

  /** Resumes reading after {@link pause}. */
  resume(): void {
    this.#paused = false;
    (this.#service as unknown as StreamHandle | null)?._connection?.stream?.resume();
  }

  /** Closes the connection and stops reconnecting. */
  async stop(): Promise<void> {
    this.#stop.abort();
    if (this.#statusTimer) clearInterval(this.#statusTimer);
    this.#sendStatus();
    await this.#service?.stop().catch(() => {});
    await this.#running;
  }

  async #run(): Promise<void> {
    let backoffMs = REPLICATION_RETRY_MIN_MS;
    while (!this.#stop.signal.aborted) {
      const service = new LogicalReplicationService(
        { connectionString: this.#options.connectionString, options: START_OPTIONS },
        { acknowledge: { auto: false, timeoutSeconds: 0 }, flowControl: { enabled: false } },
      );
      this.#service = service;
      service.on("data", (_lsn: string, message: Pgoutput.Message) => this.#onMessage(message));
      service.on("heartbeat", (lsn: string, _time: number, shouldRespond: boolean) => {
        const value = lsnToBigInt(lsn);
        if (value > this.#serverLsn) this.#serverLsn = value;
        if (shouldRespond) this.#sendStatus();
      });
      service.on("start", () => {
        backoffMs = REPLICATION_RETRY_MIN_MS;
        this.#lastError = null;
        if (this.#paused) this.pause();
        this.#setReady(true);
        this.#logger.info({ slot: this.#options.slotName }, "replication streaming");
      });
      service.on("error", (err: Error) => {
        this.#lastError = err.message;
      });
      try {
        const plugin = new RawTextPgoutputPlugin({
          protoVersion: 1,
          publicationNames: [this.#options.publicationName],
        });
        await service.subscribe(plugin, this.#options.slotName);
      } catch (err) {
        this.#lastError = err instanceof Error ? err.message : String(err);
        if (!this.#stop.signal.aborted) {
          this.#logger.warn({ err: this.#lastError, retry_ms: backoffMs }, "replication connection failed");
        }
      }
      this.#open = null;
      this.#setReady(false);
      await service.destroy().catch(() => {});
      if (this.#stop.signal.aborted) break;
      await delay(backoffMs, this.#stop.signal);
      backoffMs = Math.min(backoffMs * 2, REPLICATION_RETRY_MAX_MS);
    }
  }

  #setReady(ready: boolean): void {
    if (this.#ready === ready) return;
    this.#ready = ready;
    this.readyChanged.notify();
  }

  #relation(message: Pgoutput.MessageRelation): ReplicatedRelation {
    const known = this.#relations.get(message.relationOid);
    if (known) return known;
    return this.#remember(message);
  }

  #remember(message: Pgoutput.MessageRelation): ReplicatedRelation {
    const relation: ReplicatedRelation = {
      oid: message.relationOid,
      schema: message.schema,
      table: message.name,
      columns: message.columns.map((c) => ({ name: c.name, typeOid: c.typeOid })),
    };
    this.#relations.set(message.relationOid, relation);
    return relation;
  }

  #onMessage(message: Pgoutput.Message): void {
    switch (message.tag) {
      case "begin": {
        const commitLsn = lsnToBigInt(message.commitLsn ?? "0/0");
        this.#open = {
          xid: message.xid,
          commitLsn,
          skip: commitLsn <= this.#lastReceivedCommit,
          changes: [],
        };
        return;
      }
      case "relation": {
        const relation = this.#remember(message);
        this.#open?.changes.push({ kind: "relation", relation });
        return;
      }
      case "insert":
        this.#open?.changes.push({
          kind: "insert",
          relation: this.#relation(message.relation),
          new: message.new,
        });
        return;
      case "update":
        this.#open?.changes.push({
          kind: "update",
          relation: this.#relation(message.relation),
          old: message.old,
          key: message.key,
          new: message.new,
        });
        return;
      case "delete":
        this.#open?.changes.push({
          kind: "delete",
          relation: this.#relation(message.relation),
          old: message.old,
          key: message.key,
        });
        return;
      case "truncate":
        this.#open?.changes.push({
          kind: "truncate",
          relations: message.relations.filter((r) => r !== undefined).map((r) => this.#relation(r)),
        });
        return;
      case "commit": {
        const open = this.#open;
        this.#open = null;
        if (!open) return;
        const endLsn = lsnToBigInt(message.commitEndLsn ?? "0/0");
        this.#receivedEnd = endLsn;
        if (open.skip) {
          if (endLsn > this.#flushedEnd) this.#flushedEnd = endLsn;
          return;
        }
        this.#lastReceivedCommit = open.commitLsn;
        this.#options.onTransaction({
          xid: open.xid,
          commitLsn: open.commitLsn,
          endLsn,
          changes: open.changes,
        });
        return;
      }
      default:
        return;
    }
  }

  /**
   * Sends the flush position: the end of the last stored transaction, or the server's sent
   * position when nothing received is still waiting to be stored.
   */
  #sendStatus(): void {
    const service = this.#service;
    if (!service || !this.#ready) return;
    let position = this.#flushedEnd;
    if (this.#open === null && this.#receivedEnd <= this.#flushedEnd && this.#serverLsn > position) {
      position = this.#serverLsn;
    }
    if (position <= 0n) return;
    // The library reports `lsn + 1` as written/flushed/applied.
    service.acknowledge(bigIntToLsn(position - 1n)).catch(() => {});
  }
}
