-- Replicas and leases. Each live pg-sync process has a row here, refreshed by its heartbeat; a
-- row whose expires_at has passed (by the database clock) is a dead replica.
CREATE TABLE pgsync.replicas (
  replica_id    text        PRIMARY KEY,
  -- One process lifetime: a second live process with the same replica_id cannot take the row.
  incarnation   text        NOT NULL,
  started_at    timestamptz NOT NULL DEFAULT now(),
  heartbeat_at  timestamptz NOT NULL DEFAULT now(),
  expires_at    timestamptz NOT NULL
);

-- The lease of a source is its cursor row: owner (a replica_id), lease_expires_at (database
-- clock) and generation, the lease term. Acquiring a lease bumps the term in the same statement,
-- and every batch commit checks it, so a replica that lost its lease can never write again.
CREATE INDEX cursors_owner ON pgsync.cursors (owner) WHERE owner IS NOT NULL;
