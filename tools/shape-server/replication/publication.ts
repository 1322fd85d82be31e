/**
 * The publication and the replication slot the shape server creates and owns. Tables join the
 * publication (and get `REPLICA IDENTITY FULL`) when their first shape is created, before its
 * snapshot starts, so every transaction after the snapshot is streamed.
 */
import type pg from "pg";
import type { Logger } from "pino";
import { quoteIdent, quoteRelation } from "../identifiers.js";
import type { TableInfo } from "../shapes/table-info.js";

const DUPLICATE_OBJECT = "42710";
const LOCK_TIMEOUT = "10s";

function isCode(err: unknown, code: string): boolean {
  return err instanceof Error && (err as Error & { code?: string }).code === code;
}

/** Result of {@link ensureSlot}. */
export interface SlotState {
  /** The slot did not exist and was created now. */
  readonly created: boolean;
}

/** Creates the persistent pgoutput slot when it does not exist. */
export async function ensureSlot(pool: pg.Pool, slotName: string): Promise<SlotState> {
  const existing = await pool.query<{ plugin: string; same_db: boolean }>(
    "SELECT plugin, database = current_database() AS same_db FROM pg_replication_slots WHERE slot_name = $1",
    [slotName],
  );
  const row = existing.rows[0];
  if (row) {
    if (row.plugin !== "pgoutput" || !row.same_db) {
      throw new Error(`replication slot ${slotName} exists but is not a pgoutput slot of this database`);
    }
    return { created: false };
  }
  try {
    await pool.query("SELECT pg_create_logical_replication_slot($1, 'pgoutput')", [slotName]);
  } catch (err) {
    if (isCode(err, DUPLICATE_OBJECT)) return { created: false };
    throw err;
  }
  return { created: true };
}

/** Membership of tables in the server's publication. */
export class Publication {
  readonly #pool: pg.Pool;
  readonly #name: string;
  readonly #logger: Logger;
  readonly #pending = new Map<number, Promise<void>>();
  readonly #published = new Set<number>();

  constructor(pool: pg.Pool, name: string, logger: Logger) {
    this.#pool = pool;
    this.#name = name;
    this.#logger = logger;
  }

  /** Publication name. */
  get name(): string {
    return this.#name;
  }

  /** Creates the (initially empty) publication when missing. */
  async ensureExists(): Promise<void> {
    const res = await this.#pool.query("SELECT 1 FROM pg_publication WHERE pubname = $1", [this.#name]);
    if (res.rows.length > 0) return;
    try {
      await this.#pool.query(`CREATE PUBLICATION ${quoteIdent(this.#name)}`);
    } catch (err) {
      if (!isCode(err, DUPLICATE_OBJECT)) throw err;
    }
  }

  /** Adds the table to the publication and sets `REPLICA IDENTITY FULL` (once per table). */
  async addTable(table: TableInfo): Promise<void> {
    if (this.#published.has(table.oid)) return;
    let pending = this.#pending.get(table.oid);
    if (!pending) {
      pending = this.#add(table).finally(() => this.#pending.delete(table.oid));
      this.#pending.set(table.oid, pending);
    }
    await pending;
  }

  async #add(table: TableInfo): Promise<void> {
    const client = await this.#pool.connect();
    try {
      await client.query("BEGIN");
      await client.query(`SET LOCAL lock_timeout = '${LOCK_TIMEOUT}'`);
      const identity = await client.query<{ relreplident: string }>(
        "SELECT relreplident FROM pg_class WHERE oid = $1",
        [table.oid],
      );
      if (identity.rows[0]?.relreplident !== "f") {
        await client.query(`ALTER TABLE ${quoteRelation(table.relation)} REPLICA IDENTITY FULL`);
      }
      const member = await client.query(
        `SELECT 1 FROM pg_publication_rel pr JOIN pg_publication p ON p.oid = pr.prpubid
         WHERE p.pubname = $1 AND pr.prrelid = $2`,
        [this.#name, table.oid],
      );
      if (member.rows.length === 0) {
        await client.query(
          `ALTER PUBLICATION ${quoteIdent(this.#name)} ADD TABLE ${quoteRelation(table.relation)}`,
        );
        this.#logger.info(
          { table: `${table.relation.schema}.${table.relation.table}` },
          "table added to publication",
        );
      }
      await client.query("COMMIT");
      this.#published.add(table.oid);
    } catch (err) {
      await client.query("ROLLBACK").catch(() => {});
      throw err;
    } finally {
      client.release();
    }
  }

  /** Forgets what it knows about a table (after a schema change the table is checked again). */
  forget(oid: number): void {
    this.#published.delete(oid);
  }
}
