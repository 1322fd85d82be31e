-- A lease lives as long as its holder's heartbeat. A source's cursor row keeps its owner (a
-- replica_id) and its term (generation); the lease is live while that replica's row in
-- pgsync.replicas is unexpired. Renewing every lease a replica holds is then one update of its
-- own row, instead of an update of every cursor row it owns (10,000 row locks and new row
-- versions every third of the TTL at 10,000 sources, taken against the bridges' commits of the
-- same rows).
--
-- Replicas of earlier versions renew lease_expires_at; with the column gone their renewal fails
-- and they stop their bridges (NOT_SERVING), so a cluster is upgraded by stopping the old
-- replicas before or while the new ones start, never by running both against one database.
ALTER TABLE pgsync.cursors DROP COLUMN lease_expires_at;

-- Every held lease with its holder's expiry, for operators and tests.
CREATE VIEW pgsync.leases AS
SELECT c.tenant, c.source_ref, c.owner, c.generation AS term, r.expires_at,
       coalesce(r.expires_at > now(), false) AS live
FROM pgsync.cursors c
LEFT JOIN pgsync.replicas r ON r.replica_id = c.owner
WHERE c.owner IS NOT NULL;
