import type {
  ClaimedDelivery,
  GroupRecord,
  GroupSettings,
  NewDelivery,
  Ordering,
  SettleStatus,
} from "./consumer-group.js";

/** Persistence of consumer groups, always scoped by tenant and group. */
export interface ConsumerGroupStore {
  /** The group, or undefined. */
  getGroup(tenant: string, group: string): Promise<GroupRecord | undefined>;
  /**
   * Creates the group with `settings` unless it exists (safe under concurrency); returns the
   * stored group. Throws QuotaExceededError when the tenant already has `maxGroups`.
   */
  createGroup(
    tenant: string,
    group: string,
    settings: GroupSettings,
    maxGroups: number,
  ): Promise<GroupRecord>;
  /** Deletes the group with all its state; false when it did not exist. */
  deleteGroup(tenant: string, group: string): Promise<boolean>;
  /** Starts consuming a source at `deliveredSeq` unless the group already consumes it. */
  addSource(
    tenant: string,
    group: string,
    sourceRef: string,
    incarnation: string,
    deliveredSeq: bigint,
  ): Promise<void>;
  /** Where the group's materialisation of a source stands; undefined when it does not consume it. */
  getSource(tenant: string, group: string, sourceRef: string): Promise<{ deliveredSeq: bigint } | undefined>;
  /**
   * Stores deliveries and moves the source's delivered position from `expectedSeq` to `newSeq`,
   * atomically; false (nothing stored) when the position is no longer `expectedSeq`.
   */
  appendDeliveries(
    tenant: string,
    group: string,
    sourceRef: string,
    expectedSeq: bigint,
    newSeq: bigint,
    deliveries: readonly NewDelivery[],
  ): Promise<boolean>;
  /** Deliveries of the source not yet acknowledged (pending, in flight or dead). */
  countUnfinished(tenant: string, group: string, sourceRef: string): Promise<number>;
  /** Claims up to the member's free room among its sources (see PgConsumerGroupStore.claim). */
  claim(input: ClaimInput): Promise<ClaimOutcome>;
  /**
   * Claims for several members of one group consuming the same sources, in one transaction
   * (as many claims one after another would, with the ordering rules applied across them); one
   * outcome per input, in order. Throws when the inputs name different groups or sources.
   */
  claimMany(inputs: readonly ClaimInput[]): Promise<ClaimOutcome[]>;
  /** Acknowledges (or discards dead letters); one status per id, in order. */
  ack(tenant: string, group: string, ids: readonly string[]): Promise<SettleStatus[]>;
  /** Gives back (or redrives dead letters); one status per id, in order. */
  nack(
    tenant: string,
    group: string,
    ids: readonly string[],
    retryAfterMs: number,
    error: string,
  ): Promise<SettleStatus[]>;
  /** The group's state for GetConsumerGroup; undefined when the group does not exist. */
  describe(tenant: string, group: string, deadLetterLimit: number): Promise<GroupReport | undefined>;
  /** Registers a member (an open stream). */
  addMember(tenant: string, group: string, memberId: string, memberName: string): Promise<void>;
  /** Records that the member is alive. */
  touchMember(tenant: string, group: string, memberId: string): Promise<void>;
  /** Gives the member's in-flight deliveries back to the group at once and removes it. */
  removeMember(tenant: string, group: string, memberId: string): Promise<void>;
}

/** Input of {@link ConsumerGroupStore.claim}. */
export interface ClaimInput {
  readonly tenant: string;
  readonly group: string;
  readonly memberId: string;
  readonly sourceRefs: readonly string[];
  readonly maxInFlight: number;
  /**
   * The group's ordering as the member knows it (saves a read); the store checks it against the
   * group's and uses the group's when they differ.
   */
  readonly ordering?: Ordering;
  /**
   * Claim only when the member has at least this many free slots, or holds nothing; otherwise
   * the outcome is `deferred`. Default 1. Lets a busy member refill several deliveries per
   * claim transaction instead of one per acknowledgement.
   */
  readonly minRoom?: number;
}

/** Result of a claim. */
export interface ClaimOutcome {
  readonly claimed: readonly ClaimedDelivery[];
  /** Deliveries dead-lettered by this claim (max_deliveries reached). */
  readonly deadLettered: number;
  /** The earliest time a retry or an ack deadline makes more work claimable; undefined if none. */
  readonly nextAt: Date | undefined;
  /** True when nothing was claimed because the member had fewer than `minRoom` free slots. */
  readonly deferred?: boolean;
}

/** Where a group stands on one source. */
export interface GroupSourceReport {
  readonly sourceRef: string;
  /** Every log entry up to here is acknowledged, dead-lettered or filtered out. */
  readonly acknowledgedSeq: bigint;
  /** Every log entry up to here is in a delivery. */
  readonly deliveredSeq: bigint;
  readonly pending: number;
  readonly inFlight: number;
  readonly dead: number;
}

/** A connected member. */
export interface GroupMemberReport {
  readonly memberId: string;
  readonly memberName: string;
  readonly inFlight: number;
  readonly connectedAt: Date;
}

/** A dead letter. */
export interface DeadLetterReport {
  readonly deliveryId: string;
  readonly sourceRef: string;
  readonly wakeId: string;
  readonly firstSeq: bigint;
  readonly lastSeq: bigint;
  readonly attempts: number;
  readonly lastError: string;
  readonly deadAt: Date;
}

/** GetConsumerGroup's view of a group. */
export interface GroupReport {
  readonly group: GroupRecord;
  readonly sources: readonly GroupSourceReport[];
  readonly members: readonly GroupMemberReport[];
  readonly deadLetters: readonly DeadLetterReport[];
}
