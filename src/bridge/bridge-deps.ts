import type { Backoff } from "../domain/backoff.js";
import type { BridgeStatus } from "../domain/bridge-state.js";
import type { CursorStore } from "../domain/ports.js";
import type { CanonicalSourceOptions } from "../domain/source-ref.js";
import type { StartGate } from "../domain/start-gate.js";
import type { Logger } from "../logger.js";
import type { Metrics } from "../metrics.js";
import type { Bridge } from "./bridge.js";

/** Dependencies and identity of one {@link Bridge}. */
export interface BridgeDeps {
  readonly tenant: string;
  readonly sourceRef: string;
  /** The registration lifetime the bridge runs (see SourceRecord); passed with every commit. */
  readonly incarnation?: string;
  readonly options: CanonicalSourceOptions;
  readonly shapeUrl: string;
  readonly store: CursorStore;
  readonly backoff: Backoff;
  /** Identity of this process, recorded as the cursor's owner. */
  readonly owner: string;
  readonly logger: Logger;
  readonly metrics: Metrics;
  /** Called after every status change (for the manager's counts and health). */
  readonly onStatus: (bridge: Bridge, previous: BridgeStatus) => void;
  /** Fetch used for Electric requests; injected by tests. Default global fetch. */
  readonly fetchClient?: typeof fetch;
  /**
   * Whether the source's shape URL is still allowed (`PGSYNC_ALLOWED_URLS` may have changed since
   * it was registered); checked each time the stream opens. Default: allowed.
   */
  readonly isUrlAllowed?: (shapeUrl: string) => boolean;
  /** Called once the bridge was fenced (a commit refused for a stale term) and is ending. */
  readonly onFenced?: (bridge: Bridge) => void;
  /** Bounds how many bridges are starting at once (opening a stream until its first commit). */
  readonly startGate?: StartGate;
}

/**
 * Most changes one commit statement writes: a larger Electric batch is committed in parts of
 * this size (bench "commit": the first 5,000 of 30,000 changes are committed in about a fifth
 * of the whole batch's time).
 */
export const COMMIT_PART_MAX_CHANGES = 5_000;

/** Why a source whose URL left the allow-list fails (no URL in it: tenants read it). */
export const URL_NO_LONGER_ALLOWED =
  "the source's shape endpoint is no longer allowed (its origin was removed from PGSYNC_ALLOWED_URLS); register the source again with an allowed url";

/**
 * Bridges of one process that may be starting at once (from opening their stream to their first
 * commit); more wait their turn. Without a bound, thousands of bridges starting together (a
 * restart, a replica taking over thousands of sources) queue thousands of state-database
 * requests, and on a saturated machine they wait out the pool's 10 s connection timeout. Restart
 * of 10,000 sources to all LIVE, one run each on the 2-core bench machine: 86 s at 64, 66 and
 * 79 s at 256, 51 s at 1,024 and 53 s without a gate; but at 1,024 and without a gate thousands
 * of state writes timed out in the pool and the busy source's wakes came about a minute late
 * (bench/README.md, "10,000 sources: what saturated the state database").
 */
export const BRIDGE_START_CONCURRENCY = 256;

/** A start slot comes back after this long even if the first commit has not come (a hung start). */
export const START_SLOT_MAX_MS = 10_000;
