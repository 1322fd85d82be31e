import pg from "pg";
import type { Logger } from "../logger.js";
import { LEASES_CHANNEL } from "./constants.js";

/**
 * A LISTEN connection on the lease channel: tells this replica to re-plan at once when another
 * one released leases, left, or a source woke up, so a handover does not wait for the next
 * renewal tick. Losing it costs only latency: the coordinator re-plans on every tick anyway and
 * calls {@link PgLeaseSignal.connect} again there.
 */
export class PgLeaseSignal {
  readonly #connectionString: string;
  readonly #logger: Logger;
  readonly #onSignal: () => void;
  #client: pg.Client | undefined;
  #connecting: Promise<void> | undefined;
  #stopped = false;

  constructor(connectionString: string, logger: Logger, onSignal: () => void) {
    this.#connectionString = connectionString;
    this.#logger = logger;
    this.#onSignal = onSignal;
  }

  /** Connects and LISTENs unless already listening; failures are logged, never thrown. */
  connect(): Promise<void> {
    if (this.#client || this.#stopped) return Promise.resolve();
    this.#connecting ??= this.#open().finally(() => {
      this.#connecting = undefined;
    });
    return this.#connecting;
  }

  /** Closes the connection for good. */
  async stop(): Promise<void> {
    this.#stopped = true;
    await this.#connecting;
    const client = this.#client;
    this.#client = undefined;
    await client?.end().catch(() => {});
  }

  async #open(): Promise<void> {
    const client = new pg.Client({
      connectionString: this.#connectionString,
      application_name: "pg-sync-leases",
      connectionTimeoutMillis: 5_000,
    });
    const lost = () => {
      if (this.#client === client) this.#client = undefined;
      client.end().catch(() => {});
    };
    client.on("error", lost);
    client.on("end", lost);
    try {
      await client.connect();
      client.on("notification", () => this.#onSignal());
      await client.query(`LISTEN ${LEASES_CHANNEL}`);
      if (this.#stopped) {
        await client.end();
        return;
      }
      this.#client = client;
    } catch (err) {
      lost();
      this.#logger.debug({ err: { message: (err as Error).message } }, "lease signal connection failed");
    }
  }
}
