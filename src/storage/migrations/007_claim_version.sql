-- Consumer-group claims are optimistic: a claim reads a group source's unfinished deliveries and
-- this counter in one statement outside any transaction and decides in the server; then, in a
-- short transaction, it locks the group source, checks the counter is still the one it read,
-- and marks its picks while moving the counter on. A claim that committed in between moved it
-- already, so the late one writes nothing and reads again.
ALTER TABLE pgsync.consumer_group_sources ADD COLUMN claim_version bigint NOT NULL DEFAULT 0;
