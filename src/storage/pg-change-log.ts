import type pg from "pg";
import type { GapReason } from "../domain/change-log.js";
import type { LogBounds, LogEntry } from "../domain/log-entry.js";
import type { ChangeLogReader, LogReadOptions } from "../domain/ports.js";
import type { Operation } from "../domain/source-options.js";
import { TABLES } from "./constants.js";
import type { RecentLog, RecentLogOutcome } from "./recent-log.js";

interface EntryRow {
  seq: string;
  kind: "change" | "gap";
  operation: Operation | null;
  key: string | null;
  gap: { reason: GapReason; detail: string } | null;
  /** The bodies: absent when read without them. */
  shape_offset?: string | null;
  value?: Record<string, unknown> | null;
  old_value?: Record<string, unknown> | null;
  txids?: string[] | null;
}

/** Where a {@link PgChangeLog} may find entries this process has just committed. */
export interface RecentEntries {
  readonly recent: RecentLog;
  /** Told whether each read was served from memory (metrics). */
  readonly onRead?: (outcome: RecentLogOutcome) => void;
}

/**
 * {@link ChangeLogReader} over `pgsync.changes` (primary key order: tenant, source_ref, seq). A
 * read that gives the source's incarnation is served from `recent` when it holds the entries.
 */
export class PgChangeLog implements ChangeLogReader {
  readonly #pool: pg.Pool;
  readonly #recent: RecentEntries | undefined;

  constructor(pool: pg.Pool, recent?: RecentEntries) {
    this.#pool = pool;
    this.#recent = recent;
  }

  async read(
    tenant: string,
    sourceRef: string,
    afterSeq: bigint,
    limit: number,
    options: LogReadOptions = {},
  ): Promise<LogEntry[]> {
    const { incarnation } = options;
    if (this.#recent && incarnation !== undefined) {
      const kept = this.#recent.recent.read(tenant, sourceRef, incarnation, afterSeq, limit);
      this.#recent.onRead?.(kept ? "hit" : "miss");
      if (kept) return kept;
    }
    return this.#query(tenant, sourceRef, afterSeq, limit, options.bodies !== false);
  }

  async #query(
    tenant: string,
    sourceRef: string,
    afterSeq: bigint,
    limit: number,
    bodies: boolean,
  ): Promise<LogEntry[]> {
    const { rows } = await this.#pool.query<EntryRow>({
      name: bodies ? "pgsync-read-log" : "pgsync-read-log-heads",
      text: `SELECT seq, kind, operation, key, gap${bodies ? ", shape_offset, value, old_value, txids" : ""}
       FROM ${TABLES.changes}
       WHERE tenant = $1 AND source_ref = $2 AND seq > $3
       ORDER BY seq LIMIT $4`,
      values: [tenant, sourceRef, afterSeq.toString(), limit],
    });
    return rows.map((row): LogEntry => {
      if (row.kind === "gap") {
        return {
          kind: "gap",
          seq: BigInt(row.seq),
          reason: row.gap?.reason ?? "must-refetch",
          detail: row.gap?.detail ?? "",
        };
      }
      return {
        kind: "change",
        seq: BigInt(row.seq),
        key: row.key ?? "",
        operation: row.operation ?? "insert",
        value: row.value ?? {},
        oldValue: row.old_value ?? undefined,
        offset: row.shape_offset ?? "",
        txids: row.txids ?? [],
      };
    });
  }

  async bounds(tenant: string, sourceRef: string): Promise<LogBounds> {
    const { rows } = await this.#pool.query<{ head_seq: string | null; tail_seq: string | null }>(
      `SELECT k.head_seq,
              (SELECT min(seq) FROM ${TABLES.changes} c WHERE c.tenant = $1 AND c.source_ref = $2) AS tail_seq
       FROM ${TABLES.cursors} k WHERE k.tenant = $1 AND k.source_ref = $2`,
      [tenant, sourceRef],
    );
    const row = rows[0];
    return { headSeq: BigInt(row?.head_seq ?? 0), tailSeq: BigInt(row?.tail_seq ?? 0) };
  }
}
