/**
 * The consumer-group part of the demo (scripts/demo.ts): two workers join one group on a `jobs`
 * table, each job goes to one of them, the first job fails (a simulated crash) and is given back
 * and retried, and the group's
 * state is printed once every job is acknowledged. The workers keep running afterwards, so a row
 * inserted by hand is handled too.
 */
import { consume, type GroupDelivery, type PgSyncClient } from "@pg-sync/runtime";
import type pg from "pg";

/** The demo's group name. */
export const DEMO_GROUP = "demo-workers";
const JOBS = ["resize image", "send invoice", "index document", "email digest", "refund order"];
/** Simulated work per job, so the two workers visibly share the load. */
const WORK_MS = 150;
const RETRY_AFTER_MS = 300;
const DEADLINE_MS = 30_000;

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function until(what: string, check: () => boolean | Promise<boolean>): Promise<void> {
  const deadline = Date.now() + DEADLINE_MS;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(50);
  }
}

function describe(d: GroupDelivery): string {
  const row = d.wake?.changes[0]?.value as { id?: number; title?: string } | undefined;
  return d.wake ? `job ${row?.id} '${row?.title}'` : `gap (${d.gap?.detail})`;
}

/** Starts the two workers and the jobs; resolves once all jobs are acknowledged. */
export async function runWorkersDemo(
  client: PgSyncClient,
  sql: pg.Pool,
  say: (line: string) => void,
): Promise<void> {
  await sql.query("CREATE TABLE IF NOT EXISTS jobs (id serial PRIMARY KEY, title text NOT NULL)");
  const { sourceRef } = await client.registerSource({ table: "jobs" });
  let acknowledged = 0;
  let failedOnce = false;
  const worker = async (name: string) => {
    for await (const d of consume(client, {
      group: DEMO_GROUP,
      sourceRefs: [sourceRef],
      ordering: "key", // jobs of different rows run in parallel; one row's changes stay in order
      maxChangesPerWake: 1,
      maxInFlight: 1,
      memberName: name,
    })) {
      await sleep(WORK_MS);
      if (!failedOnce) {
        failedOnce = true;
        const outcome = await d.nack({ retryAfterMs: RETRY_AFTER_MS, error: "simulated crash" });
        say(
          `  ${name}: ${describe(d)} (attempt ${d.attempt}) failed → ${outcome}, retry in ${RETRY_AFTER_MS} ms`,
        );
        continue;
      }
      const outcome = await d.ack();
      if (outcome === "acknowledged") acknowledged++;
      say(`  ${name}: ${describe(d)} (attempt ${d.attempt}) done → ${outcome}`);
    }
  };
  for (const name of ["worker-1", "worker-2"]) {
    void worker(name).catch((err: unknown) => say(`  ${name} stopped: ${(err as Error).message}`));
  }
  const members = async () => (await client.raw.getConsumerGroup({ group: DEMO_GROUP })).group?.members;
  await until("two workers", async () => (await members().catch(() => undefined))?.length === 2);
  for (const title of JOBS) await sql.query("INSERT INTO jobs (title) VALUES ($1)", [title]);
  await until(`${JOBS.length} jobs acknowledged`, () => acknowledged >= JOBS.length);
  const { group } = await client.raw.getConsumerGroup({ group: DEMO_GROUP });
  const s = group?.sources[0];
  say(
    `  group ${DEMO_GROUP}: acknowledged up to seq ${s?.acknowledgedSeq}, ${s?.inFlightCount} in flight, ` +
      `${s?.deadLetterCount} dead letters; members ${group?.members.map((m) => m.memberName).join(", ")}`,
  );
}
