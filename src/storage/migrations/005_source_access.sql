-- Authorization (issue 12): the identity of the policy row filter a source was registered under
-- (policy clause and the caller's bound values, as JSON); NULL when no filter applies. Reads by a
-- caller whose bound filter differs are refused, so callers of one tenant with different claims
-- never read each other's rows.
ALTER TABLE pgsync.sources ADD COLUMN access_key text;
