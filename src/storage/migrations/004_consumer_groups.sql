-- Consumer groups: per tenant and group, the settings; per source, how far the log has been turned
-- into deliveries; the deliveries not yet acknowledged (pending, in flight, dead); the members.
-- Acknowledging a delivery deletes its row, so the table holds only unfinished work, bounded by
-- the materialisation window per source (never by memory).
CREATE TABLE pgsync.consumer_groups (
  tenant               text        NOT NULL,
  group_name           text        NOT NULL,
  ops                  text[]      NOT NULL DEFAULT '{}',
  debounce_ms          integer     NOT NULL,
  max_wait_ms          integer     NOT NULL,
  max_changes_per_wake integer     NOT NULL,
  ack_timeout_ms       integer     NOT NULL,
  max_deliveries       integer     NOT NULL,
  ordering             text        NOT NULL CHECK (ordering IN ('source', 'key', 'none')),
  created_at           timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (tenant, group_name)
);

CREATE TABLE pgsync.consumer_group_sources (
  tenant        text   NOT NULL,
  group_name    text   NOT NULL,
  source_ref    text   NOT NULL,
  -- The source's incarnation when the group first consumed it.
  incarnation   bigint NOT NULL,
  -- Every log entry up to here is in a delivery row, acknowledged, or filtered out.
  delivered_seq bigint NOT NULL,
  PRIMARY KEY (tenant, group_name, source_ref),
  FOREIGN KEY (tenant, group_name) REFERENCES pgsync.consumer_groups (tenant, group_name) ON DELETE CASCADE,
  FOREIGN KEY (tenant, source_ref) REFERENCES pgsync.sources (tenant, source_ref) ON DELETE CASCADE
);

CREATE TABLE pgsync.consumer_deliveries (
  tenant        text        NOT NULL,
  group_name    text        NOT NULL,
  source_ref    text        NOT NULL,
  first_seq     bigint      NOT NULL,
  last_seq      bigint      NOT NULL,
  kind          text        NOT NULL CHECK (kind IN ('wake', 'gap')),
  -- Matching changes in [first_seq, last_seq] when materialised (fewer at delivery = pruned).
  change_count  integer     NOT NULL DEFAULT 0,
  -- Row keys of the changes (ORDERING_KEY only; empty otherwise).
  keys          text[]      NOT NULL DEFAULT '{}',
  gap_reason    text,
  gap_detail    text,
  state         text        NOT NULL DEFAULT 'pending' CHECK (state IN ('pending', 'in_flight', 'dead')),
  -- Deliveries made (1 = first); never decreases, so every attempt has its own delivery id.
  attempt       integer     NOT NULL DEFAULT 0,
  -- Attempts made before the last redrive: attempt - attempt_base counts toward max_deliveries.
  attempt_base  integer     NOT NULL DEFAULT 0,
  member_id     text,
  ack_deadline  timestamptz,
  available_at  timestamptz NOT NULL DEFAULT now(),
  last_error    text,
  dead_at       timestamptz,
  PRIMARY KEY (tenant, group_name, source_ref, first_seq),
  FOREIGN KEY (tenant, group_name, source_ref)
    REFERENCES pgsync.consumer_group_sources (tenant, group_name, source_ref) ON DELETE CASCADE
);

CREATE INDEX consumer_deliveries_member ON pgsync.consumer_deliveries (tenant, group_name, member_id)
  WHERE state = 'in_flight';

CREATE TABLE pgsync.consumer_group_members (
  tenant       text        NOT NULL,
  group_name   text        NOT NULL,
  member_id    text        NOT NULL,
  member_name  text        NOT NULL DEFAULT '',
  connected_at timestamptz NOT NULL DEFAULT now(),
  -- Refreshed by the member's heartbeat; members silent for long are not listed.
  seen_at      timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (tenant, group_name, member_id),
  FOREIGN KEY (tenant, group_name) REFERENCES pgsync.consumer_groups (tenant, group_name) ON DELETE CASCADE
);
