import { Counter, Gauge, type Registry } from "prom-client";

/** Prometheus metrics of leases and replicas (on the process's registry, served at GET /metrics). */
export interface LeaseMetrics {
  /** Leases this replica holds now. */
  readonly leasesHeld: Gauge;
  /** Leases acquired (a term bumped by this replica). */
  readonly leasesAcquired: Counter;
  /** Leases lost without releasing them, by reason (`expired`: taken after this replica missed renewals; `fenced`: a commit was refused; `unreachable`: dropped because the state database could not be reached; `deleted`). */
  readonly leasesLost: Counter<"reason">;
  /** Leases handed over cleanly, by reason (`balance`, `shutdown`, `ended`). */
  readonly handovers: Counter<"reason">;
  /** Batch commits refused because the bridge's term was stale. */
  readonly fencedCommits: Counter;
  /** Live replicas, as this replica last saw them. */
  readonly liveReplicas: Gauge;
  /** Sources that should run but have had no live owner for longer than the lease TTL plus 5 s. */
  readonly orphanedSources: Gauge;
}

/** Creates the lease metrics on `registry`. */
export function createLeaseMetrics(registry: Registry): LeaseMetrics {
  const registers = [registry];
  return {
    leasesHeld: new Gauge({ name: "pgsync_leases_held", help: "Leases held by this replica", registers }),
    leasesAcquired: new Counter({
      name: "pgsync_leases_acquired_total",
      help: "Leases acquired by this replica",
      registers,
    }),
    leasesLost: new Counter({
      name: "pgsync_leases_lost_total",
      help: "Leases lost by this replica without a release",
      labelNames: ["reason"],
      registers,
    }),
    handovers: new Counter({
      name: "pgsync_lease_handovers_total",
      help: "Leases released by this replica for another to take",
      labelNames: ["reason"],
      registers,
    }),
    fencedCommits: new Counter({
      name: "pgsync_fenced_commits_total",
      help: "Batch commits refused because the lease term was stale",
      registers,
    }),
    liveReplicas: new Gauge({ name: "pgsync_replicas_live", help: "Live replicas", registers }),
    orphanedSources: new Gauge({
      name: "pgsync_sources_orphaned",
      help: "Sources that should run but have had no live owner for longer than the lease TTL plus 5 s",
      registers,
    }),
  };
}
