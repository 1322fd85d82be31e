import { randomUUID } from "node:crypto";
import { Coalescer } from "./coalescer.js";
import {
  GROUP_LIMITS,
  type GroupRecord,
  type SettleStatus,
  sourceSetKey,
  validateDeliveryIds,
  validateGroupName,
} from "./consumer-group.js";
import { GroupMaterializer } from "./consumer-group-materializer.js";
import { GroupMember, GroupSignals, groupKey } from "./consumer-group-member.js";
import {
  type ConsumeRequest,
  checkSettings,
  settingsForNewGroup,
  validateConsumeRequest,
} from "./consumer-group-request.js";
import type { ClaimInput, ClaimOutcome, ConsumerGroupStore, GroupReport } from "./consumer-group-store.js";
import { ConsumerGroupNotFoundError, InvalidRequestError, QuotaExceededError } from "./errors.js";
import type { ChangeLogReader, LogNotifier } from "./ports.js";
import type { SourceRecord } from "./source.js";
import type { SourceRegistry } from "./source-registry.js";
import { planStart } from "./start-plan.js";

/** Most members served by one claim transaction. */
const MAX_MEMBERS_PER_CLAIM = 64;

/** Limits of {@link ConsumerGroupService}. */
export interface GroupServiceLimits {
  /** Unfinished deliveries kept per group source before reading the log pauses. */
  readonly windowSize: number;
  /** Log entries read per query. */
  readonly readPageSize: number;
  /** Idle re-check interval of members and paused materializers. */
  readonly pollIntervalMs: number;
  /** Most groups per tenant. */
  readonly maxGroupsPerTenant: number;
  /** Most open ConsumeWakes streams per tenant. */
  readonly maxStreamsPerTenant: number;
}

/** Dependencies of {@link ConsumerGroupService}. */
export interface ConsumerGroupServiceDeps {
  readonly registry: SourceRegistry;
  readonly store: ConsumerGroupStore;
  readonly reader: ChangeLogReader;
  readonly notifier: LogNotifier;
  /** Keeps a source's bridge running while consumed; returns the release. */
  readonly retain: (record: SourceRecord) => () => void;
  readonly limits: GroupServiceLimits;
  /** Receives background errors (materializers retry). */
  readonly onError: (err: unknown, context: Record<string, string>) => void;
}

/** An open ConsumeWakes stream: its member and what to release when it ends. */
export interface OpenMember {
  readonly member: GroupMember;
  /** Releases the quota slot, the bridges and the materializers. Idempotent. */
  close(): void;
}

interface SharedMaterializer {
  readonly materializer: GroupMaterializer;
  users: number;
}

/**
 * Consumer groups: opens members (validating, creating the group on first use, adding sources at
 * the start position), runs one {@link GroupMaterializer} per consumed group source in this
 * process, and settles acks and nacks. All group state is in the store, so any replica can serve
 * any member or ack; in-process signals only make this replica react sooner.
 */
export class ConsumerGroupService {
  readonly #deps: ConsumerGroupServiceDeps;
  readonly #signals = new GroupSignals();
  readonly #materializers = new Map<string, SharedMaterializer>();
  readonly #open = new Map<string, number>();
  /** AckWakes calls of one group arriving during a flush share the next statement. */
  readonly #acks = new Coalescer<string, SettleStatus>(GROUP_LIMITS.maxIdsPerCall);
  /** Claims of this process's members of one group (same sources) made together share a transaction. */
  readonly #claims = new Coalescer<ClaimInput, ClaimOutcome>(MAX_MEMBERS_PER_CLAIM);

  constructor(deps: ConsumerGroupServiceDeps) {
    this.#deps = deps;
  }

  /** Opens a member stream; the group is created on first use. */
  async open(tenant: string, req: ConsumeRequest): Promise<OpenMember> {
    const valid = validateConsumeRequest(req);
    const { registry, store, limits } = this.#deps;
    const sources: SourceRecord[] = [];
    for (const ref of valid.sourceRefs) sources.push(await registry.get(tenant, ref));
    const open = this.#open.get(tenant) ?? 0;
    if (open >= limits.maxStreamsPerTenant) {
      throw new QuotaExceededError(
        "streams_per_tenant",
        `tenant already has ${open} open ConsumeWakes streams (limit ${limits.maxStreamsPerTenant}); close some first`,
      );
    }
    const existing = await store.getGroup(tenant, valid.group);
    if (existing) checkSettings(existing, valid.requested);
    const group =
      existing ??
      (await store.createGroup(
        tenant,
        valid.group,
        settingsForNewGroup(valid.requested),
        limits.maxGroupsPerTenant,
      ));
    for (const source of sources) await this.#addSource(group, source, valid.startPosition);
    this.#open.set(tenant, open + 1);
    const releases = sources.flatMap((s) => [this.#deps.retain(s), this.#acquire(group, s)]);
    const member = new GroupMember({
      group,
      memberId: randomUUID(),
      memberName: valid.memberName,
      sources: new Map(sources.map((s) => [s.sourceRef, s])),
      maxInFlight: valid.maxInFlight,
      heartbeatIntervalMs: valid.heartbeatIntervalMs,
      pollIntervalMs: limits.pollIntervalMs,
      store,
      claim: (input) =>
        this.#claims
          .submit(`${groupKey(tenant, valid.group)}\u0000${sourceSetKey(input.sourceRefs)}`, [input], (all) =>
            store.claimMany(all),
          )
          .then((outcomes) => outcomes[0] as ClaimOutcome),
      reader: this.#deps.reader,
      signals: this.#signals,
    });
    let closed = false;
    return {
      member,
      close: () => {
        if (closed) return;
        closed = true;
        for (const release of releases) release();
        const n = (this.#open.get(tenant) ?? 1) - 1;
        if (n <= 0) this.#open.delete(tenant);
        else this.#open.set(tenant, n);
      },
    };
  }

  /**
   * AckWakes. Calls for one group that arrive while its previous acknowledgement statement runs
   * are settled together by the next one (group commit); each call still answers only after the
   * statement holding its ids has committed, with the statuses of its own ids.
   */
  async ack(tenant: string, group: string, ids: readonly string[]): Promise<SettleStatus[]> {
    validateGroupName(group);
    validateDeliveryIds(ids);
    return this.#acks.submit(groupKey(tenant, group), ids, async (all) => {
      const statuses = await this.#deps.store.ack(tenant, group, all);
      this.#settled(tenant, group);
      return statuses;
    });
  }

  /** NackWakes. */
  async nack(
    tenant: string,
    group: string,
    ids: readonly string[],
    retryAfterMs: number,
    error: string,
  ): Promise<SettleStatus[]> {
    validateGroupName(group);
    validateDeliveryIds(ids);
    if (retryAfterMs > GROUP_LIMITS.maxRetryAfterMs) {
      throw new InvalidRequestError("retry_after_ms", `must be at most ${GROUP_LIMITS.maxRetryAfterMs}`);
    }
    if (error.length > GROUP_LIMITS.maxErrorLength) {
      throw new InvalidRequestError("error", `must be at most ${GROUP_LIMITS.maxErrorLength} characters`);
    }
    const statuses = await this.#deps.store.nack(tenant, group, ids, retryAfterMs, error);
    this.#settled(tenant, group);
    return statuses;
  }

  /** GetConsumerGroup. */
  async get(tenant: string, group: string, deadLetterLimit: number): Promise<GroupReport> {
    validateGroupName(group);
    if (deadLetterLimit > GROUP_LIMITS.maxDeadLetterLimit) {
      throw new InvalidRequestError(
        "dead_letter_limit",
        `must be at most ${GROUP_LIMITS.maxDeadLetterLimit}`,
      );
    }
    const report = await this.#deps.store.describe(
      tenant,
      group,
      deadLetterLimit || GROUP_LIMITS.defaultDeadLetterLimit,
    );
    if (!report) throw new ConsumerGroupNotFoundError(group);
    return report;
  }

  /** DeleteConsumerGroup: the group's streams notice at their next claim and end with NOT_FOUND. */
  async delete(tenant: string, group: string): Promise<void> {
    validateGroupName(group);
    if (!(await this.#deps.store.deleteGroup(tenant, group))) throw new ConsumerGroupNotFoundError(group);
    this.#signals.bump(groupKey(tenant, group));
  }

  /** Wakes the group's members and paused materializers in this process. */
  #settled(tenant: string, group: string): void {
    this.#signals.bump(groupKey(tenant, group));
    const prefix = `${groupKey(tenant, group)}\u0000`;
    for (const [key, shared] of this.#materializers) {
      if (key.startsWith(prefix)) shared.materializer.roomFreed();
    }
  }

  async #addSource(group: GroupRecord, source: SourceRecord, start: "now" | "earliest"): Promise<void> {
    const { store, reader } = this.#deps;
    if (await store.getSource(group.tenant, group.group, source.sourceRef)) return;
    const bounds = await reader.bounds(group.tenant, source.sourceRef);
    const { position } = planStart(bounds, source.incarnation, { position: start });
    await store.addSource(group.tenant, group.group, source.sourceRef, source.incarnation, position);
  }

  /** Shares one materializer per group source in this process; returns the release. */
  #acquire(group: GroupRecord, source: SourceRecord): () => void {
    // The creation time tells a group deleted and created again from the old one.
    const key = `${groupKey(group.tenant, group.group)}\u0000${source.sourceRef}\u0000${group.createdAt.getTime()}`;
    let shared = this.#materializers.get(key);
    if (!shared) {
      const { limits } = this.#deps;
      const materializer = new GroupMaterializer({
        group,
        source,
        reader: this.#deps.reader,
        notifier: this.#deps.notifier,
        store: this.#deps.store,
        windowSize: limits.windowSize,
        readPageSize: limits.readPageSize,
        pollIntervalMs: limits.pollIntervalMs,
        onAppended: () => this.#signals.bump(groupKey(group.tenant, group.group)),
        onError: (err) =>
          this.#deps.onError(err, { tenant: group.tenant, group: group.group, source_ref: source.sourceRef }),
      });
      shared = { materializer, users: 0 };
      this.#materializers.set(key, shared);
      materializer.start();
    }
    shared.users++;
    const entry = shared;
    let released = false;
    return () => {
      if (released) return;
      released = true;
      if (--entry.users > 0) return;
      entry.materializer.close();
      if (this.#materializers.get(key) === entry) this.#materializers.delete(key);
    };
  }
}
