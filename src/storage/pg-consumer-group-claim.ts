import type pg from "pg";
import type { ClaimedDelivery, Ordering } from "../domain/consumer-group.js";
import { type ClaimSelection, selectClaims } from "../domain/consumer-group-ordering.js";
import type { ClaimInput, ClaimOutcome } from "../domain/consumer-group-store.js";
import { ConsumerGroupNotFoundError } from "../domain/errors.js";
import { SCHEMA, GROUP_TABLES as T } from "./constants.js";
import { type ClaimState, readClaimState } from "./pg-consumer-group-claim-read.js";
import { toNewDelivery, toView, type ViewRow } from "./pg-consumer-group-rows.js";

/** Reads a claim lost to a concurrent one (on another replica) retries at once, this many times. */
const MAX_CLAIM_ROUNDS = 4;

/** After that, the members look again this much later (another claim is making progress). */
const LOST_RETRY_MS = 5;

/** A member a claim serves, with its free room. */
interface ClaimWant {
  readonly input: ClaimInput;
  readonly room: number;
}

/** Deals the picks (log order) round-robin to the members with room left; one member id per pick. */
export function dealPicks(picks: number, rooms: readonly { memberId: string; room: number }[]): string[] {
  const left = rooms.map((r) => r.room);
  const owners: string[] = [];
  for (let i = 0; owners.length < picks && left.some((n) => n > 0); i++) {
    const at = i % rooms.length;
    if ((left[at] as number) <= 0) continue;
    left[at] = (left[at] as number) - 1;
    owners.push((rooms[at] as { memberId: string }).memberId);
  }
  return owners;
}

/**
 * Deals the picks (log order) in contiguous runs: every member gets as many as {@link dealPicks}
 * gives it (the same fair shares, never past its room), but as one run of consecutive picks, so
 * a member's wakes are one short span of the log, read with one query of just those entries
 * (round-robin spans interleave the members and each read the others' entries too).
 */
export function dealRuns(picks: number, rooms: readonly { memberId: string; room: number }[]): string[] {
  const counts = new Map<string, number>();
  for (const owner of dealPicks(picks, rooms)) counts.set(owner, (counts.get(owner) ?? 0) + 1);
  return [...counts].flatMap(([memberId, n]) => Array.from({ length: n }, () => memberId));
}

/**
 * Which members want deliveries: those with a free slot, unless they hold some and have fewer
 * than `minRoom` free (`deferred`). The others get their outcome (nothing claimed) right away.
 */
function planWants(inputs: readonly ClaimInput[], state: ClaimState): (ClaimOutcome | ClaimWant)[] {
  return inputs.map((input, i) => {
    const { held, next } = state.held[i] ?? { held: 0, next: undefined };
    const room = input.maxInFlight - held;
    const deferred = held > 0 && room > 0 && room < (input.minRoom ?? 1);
    if (room > 0 && !deferred) return { input, room };
    return { claimed: [], deadLettered: 0, nextAt: next, deferred };
  });
}

/** A delivery the write marked in flight: which one, its new attempt and deadline, its owner. */
interface MarkedRow {
  source_ref: string;
  first_seq: string;
  attempt: number;
  /** Epoch ms. */
  ack_deadline: number;
  member_id: string;
}

/** The write statement's result: whether no other claim came first, and the rows marked. */
interface WriteResult {
  readonly won: boolean;
  readonly marked: MarkedRow[];
}

/**
 * The claim's write in one round trip: `pgsync.claim_write` (migration 009) locks the group
 * sources in source order, checks their claim versions are those the claim read, and only then
 * moves them on, dead-letters and marks the picks in flight for their owners, all in one
 * transaction. One row with `won` false when another claim came first.
 */
const WRITE = `SELECT * FROM ${SCHEMA}.claim_write($1, $2, $3, $4, $5, $6, $7)`;

/** Deliveries as `{source_ref: {first_seq: value}}`, the form claim_write looks rows up in. */
function seqMap(items: readonly { sourceRef: string; firstSeq: bigint }[], values: readonly unknown[]) {
  const map: Record<string, Record<string, unknown>> = {};
  items.forEach((d, i) => {
    const bySeq = map[d.sourceRef] ?? {};
    map[d.sourceRef] = bySeq;
    bySeq[d.firstSeq.toString()] = values[i];
  });
  return JSON.stringify(map);
}

async function writeClaim(
  db: Pick<pg.Pool, "query">,
  input: ClaimInput,
  state: ClaimState,
  pick: ClaimSelection<ViewRow>,
  owners: readonly string[],
): Promise<WriteResult> {
  const claim = pick.claim.slice(0, owners.length);
  const refs = [...state.sources.keys()].sort();
  const { rows } = await db.query<MarkedRow & { won: boolean }>({
    name: "pgsync-group-claim-write",
    text: WRITE,
    values: [
      input.tenant,
      input.group,
      refs,
      refs.map((ref) => state.sources.get(ref)?.version ?? "0"),
      seqMap(
        pick.deadLetter,
        pick.deadLetter.map(() => true),
      ),
      state.ackTimeoutMs,
      seqMap(claim, owners),
    ],
  });
  const won = rows[0]?.won === true;
  return { won, marked: won ? rows.filter((r) => r.source_ref !== null) : [] };
}

/** One read-decide-write round; undefined when another claim came first. */
async function claimRound(
  db: Pick<pg.Pool, "query">,
  inputs: readonly ClaimInput[],
  state: ClaimState,
): Promise<ClaimOutcome[] | undefined> {
  const plans = planWants(inputs, state);
  const wants = plans.filter((p): p is ClaimWant => "room" in p);
  if (wants.length === 0 || state.sources.size === 0) {
    return plans.map((p) => ("room" in p ? { claimed: [], deadLettered: 0, nextAt: undefined } : p));
  }
  const room = wants.reduce((n, w) => n + w.room, 0);
  const pick = selectClaims(state.candidates.map(toView), {
    ordering: state.ordering,
    maxDeliveries: state.maxDeliveries,
    room,
    now: state.now,
  });
  const owners = dealRuns(
    pick.claim.length,
    wants.map((w) => ({ memberId: w.input.memberId, room: w.room })),
  );
  if (owners.length === 0 && pick.deadLetter.length === 0) {
    const nextAt = earliest(pick.nextAt, state.nextAt);
    return plans.map((p) => ("room" in p ? { claimed: [], deadLettered: 0, nextAt } : p));
  }
  const written = await writeClaim(db, inputs[0] as ClaimInput, state, pick, owners);
  if (!written.won) return undefined;
  const byMember = groupByMember(written.marked, pick.claim, state);
  const nextAt = earliest(pick.nextAt, state.nextAt);
  const deadLettered = pick.deadLetter.length;
  return plans.map((p) =>
    "room" in p ? { claimed: byMember.get(p.input.memberId) ?? [], deadLettered, nextAt } : p,
  );
}

function earliest(a: Date | undefined, b: Date | undefined): Date | undefined {
  if (!a) return b;
  if (!b) return a;
  return a < b ? a : b;
}

/**
 * The marked rows as claimed deliveries per member, in log order per source. The write returns
 * only what it changed (attempt, deadline, owner); the rest comes from the claim's own picks.
 */
function groupByMember(rows: readonly MarkedRow[], picks: readonly ViewRow[], state: ClaimState) {
  const picked = new Map(picks.map((p) => [`${p.row.source_ref}\u0000${p.row.first_seq}`, p.row]));
  const sorted = [...rows].sort((a, b) =>
    a.source_ref === b.source_ref
      ? Number(BigInt(a.first_seq) - BigInt(b.first_seq))
      : a.source_ref < b.source_ref
        ? -1
        : 1,
  );
  const byMember = new Map<string, ClaimedDelivery[]>();
  for (const row of sorted) {
    const candidate = picked.get(`${row.source_ref}\u0000${row.first_seq}`);
    if (!candidate)
      throw new Error(`claim_write marked ${row.source_ref}/${row.first_seq}, which was not picked`);
    const list = byMember.get(row.member_id) ?? [];
    byMember.set(row.member_id, list);
    list.push({
      sourceRef: row.source_ref,
      incarnation: state.sources.get(row.source_ref)?.incarnation ?? "0",
      delivery: toNewDelivery(candidate),
      attempt: row.attempt,
      ackDeadline: new Date(row.ack_deadline),
    });
  }
  return byMember;
}

/**
 * Claims deliveries for one or more members of a group that consume the same sources: up to each
 * member's free room, by the group's ordering rules (`selectClaims`, deciding once for the
 * members' total room, so the rules hold across them exactly as for one member), dead-lettering
 * those past `max_deliveries`. Optimistic: one read outside any transaction (settings, held
 * counts, candidates and the sources' claim versions, from one snapshot), then one call of
 * `claim_write`, a short transaction that locks the group sources (`FOR UPDATE`, in source
 * order), checks their versions are still those read and writes while moving them on: two round
 * trips in all, the lock held for none of them. Claims of a
 * group source thus take effect one after another, each deciding from everything the previous
 * ones wrote; a claim that lost the race reads again. Acks, nacks and closed streams only ever make deliveries *more* claimable, so they
 * need no guard: a claim that read an older state errs on the side of holding back. This is
 * what keeps the ordering guarantees with several members on several replicas.
 */
export async function claimDeliveries(
  db: pg.Pool,
  inputs: readonly ClaimInput[],
  ordering: Ordering | undefined,
): Promise<ClaimOutcome[]> {
  const first = inputs[0] as ClaimInput;
  let assumed = ordering ?? (await groupOrdering(db, first));
  for (let round = 0; round < MAX_CLAIM_ROUNDS; round++) {
    const state = await readClaimState(db, inputs, assumed);
    if (state.ordering !== assumed) {
      assumed = state.ordering;
      continue;
    }
    const outcomes = await claimRound(db, inputs, state);
    if (outcomes) return outcomes;
  }
  const nextAt = new Date(Date.now() + LOST_RETRY_MS);
  return inputs.map(() => ({ claimed: [], deadLettered: 0, nextAt }));
}

async function groupOrdering(db: Pick<pg.Pool, "query">, input: ClaimInput): Promise<Ordering> {
  const { rows } = await db.query<{ ordering: Ordering }>(
    `SELECT ordering FROM ${T.groups} WHERE tenant = $1 AND group_name = $2`,
    [input.tenant, input.group],
  );
  if (!rows[0]) throw new ConsumerGroupNotFoundError(input.group);
  return rows[0].ordering;
}
