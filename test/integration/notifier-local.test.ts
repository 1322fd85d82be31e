import pg from "pg";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { LogEvent } from "../../src/domain/log-entry.js";
import { createLogger } from "../../src/logger.js";
import { CHANGES_CHANNEL, SOURCES_CHANNEL } from "../../src/storage/constants.js";
import { PgNotifier } from "../../src/storage/pg-notifier.js";
import { createTestDatabase, type TestDatabase } from "../support/db.js";
import { waitFor } from "../support/wait.js";

const T = "tenant-a";
let db: TestDatabase;
let sql: pg.Pool;
let notifier: PgNotifier;
let nextRef = 0;

/** A fresh source ref, and the heads its subscriber heard of. */
function follow(): { ref: string; heads: bigint[]; stop: () => void } {
  const ref = (++nextRef).toString(16).padStart(16, "0");
  const heads: bigint[] = [];
  const stop = notifier.subscribe(T, ref, (e: LogEvent) => {
    if (e.type === "appended") heads.push(e.headSeq);
  });
  return { ref, heads, stop };
}

async function notify(ref: string, head: number): Promise<void> {
  await sql.query("SELECT pg_notify($1, $2)", [CHANGES_CHANNEL, JSON.stringify({ t: T, r: ref, h: head })]);
}

/** Waits until the subscriber heard `head`: every NOTIFY sent before it has been handled. */
async function heard(f: { heads: bigint[] }, head: bigint): Promise<void> {
  await waitFor(() => (f.heads.includes(head) ? true : undefined), { what: `head ${head}` });
}

beforeAll(async () => {
  db = await createTestDatabase("notifier_local");
  sql = new pg.Pool({ connectionString: db.url, max: 2 });
  notifier = new PgNotifier(db.url, createLogger("warn"));
  await notifier.start();
});

afterAll(async () => {
  await notifier?.stop();
  await sql?.end();
  await db?.drop();
});

describe("PgNotifier local commits", () => {
  it("should announce a local commit at once and drop its own NOTIFY when it arrives", async () => {
    const f = follow();
    const end = notifier.localCommit(T, f.ref, "1");
    end(5n);
    expect(f.heads).toEqual([5n]);
    await notify(f.ref, 5); // the commit's own NOTIFY
    await notify(f.ref, 4); // an older one
    await notify(f.ref, 9); // another writer's, newer
    await heard(f, 9n);
    expect(f.heads).toEqual([5n, 9n]);
    f.stop();
  });

  it("should hold a NOTIFY that arrives during a local commit and deliver it after, if newer", async () => {
    const f = follow();
    const end = notifier.localCommit(T, f.ref, "1");
    await notify(f.ref, 3); // arrives before the commit's answer
    const g = follow(); // a marker on another source: the held NOTIFY was handled before it
    await notify(g.ref, 1);
    await heard(g, 1n);
    expect(f.heads).toEqual([]);
    end(3n);
    expect(f.heads).toEqual([3n]);

    const end2 = notifier.localCommit(T, f.ref, "1");
    await notify(f.ref, 8); // beyond what this commit will report: another writer's too
    await notify(g.ref, 2);
    await heard(g, 2n);
    end2(4n);
    expect(f.heads).toEqual([3n, 4n, 8n]);
    f.stop();
    g.stop();
  });

  it("should release held NOTIFYs when a local commit fails", async () => {
    const f = follow();
    const end = notifier.localCommit(T, f.ref, "1");
    await notify(f.ref, 2);
    const g = follow();
    await notify(g.ref, 1);
    await heard(g, 1n);
    end(undefined);
    expect(f.heads).toEqual([2n]);
    f.stop();
    g.stop();
  });

  it("should compare heads within one incarnation only", async () => {
    const f = follow();
    notifier.localCommit(T, f.ref, "1")(500n);
    // Deleted and registered again: the new incarnation's seqs start over.
    notifier.localCommit(T, f.ref, "2")(3n);
    notifier.localCommit(T, f.ref, "2")(400n);
    expect(f.heads).toEqual([500n, 3n, 400n]);
    // A source notification (a deletion, on another replica) forgets the heads announced here, so
    // the new incarnation's commits there are not taken for old ones.
    await sql.query("SELECT pg_notify($1, $2)", [
      SOURCES_CHANNEL,
      JSON.stringify({ t: T, r: f.ref, s: "STOPPED" }),
    ]);
    await notify(f.ref, 2);
    await heard(f, 2n);
    f.stop();
  });

  it("should forget a source whose last follower left during a commit", () => {
    const before = notifier.localSources;
    const f = follow();
    const end = notifier.localCommit(T, f.ref, "1");
    expect(notifier.localSources).toBe(before + 1);
    f.stop();
    end(3n);
    expect(f.heads).toEqual([]);
    expect(notifier.localSources).toBe(before);
  });

  it("should do nothing for a source nobody follows", async () => {
    const f = follow();
    f.stop();
    notifier.localCommit(T, f.ref, "1")(7n); // nobody to tell, and nothing remembered
    const heads: bigint[] = [];
    const stop = notifier.subscribe(T, f.ref, (e) => {
      if (e.type === "appended") heads.push(e.headSeq);
    });
    await notify(f.ref, 7);
    await waitFor(() => (heads.length > 0 ? true : undefined), { what: "the NOTIFY" });
    expect(heads).toEqual([7n]);
    stop();
  });
});
