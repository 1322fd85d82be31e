-- Consumer-group claims are optimistic: a claim reads a group source's unfinished deliveries and
-- this counter in one statement, decides in the server, and writes its picks in a second
-- statement that first moves the counter on from the value it read. A claim that committed in
-- between moved it already, so the late one writes nothing and reads again: two round trips and
-- no transaction held open across them, with the same guarantees as locking the row.
ALTER TABLE pgsync.consumer_group_sources ADD COLUMN claim_version bigint NOT NULL DEFAULT 0;
