/** Schema holding all pg-sync state. */
export const SCHEMA = "pgsync";
/** Table recording applied migrations. */
export const MIGRATIONS_TABLE = `${SCHEMA}.schema_migrations`;
/** Advisory lock key serialising migrations across processes ("pgsync" as an int8). */
export const MIGRATION_LOCK_KEY = 0x7067_7379_6e63n;
/** Tables. */
export const TABLES = {
  sources: `${SCHEMA}.sources`,
  cursors: `${SCHEMA}.cursors`,
  changes: `${SCHEMA}.changes`,
  replicas: `${SCHEMA}.replicas`,
} as const;

/** NOTIFY channel announcing new log entries: payload `{"t": tenant, "r": source_ref, "h": head_seq}`. */
export const CHANGES_CHANNEL = "pgsync_changes";
/** NOTIFY channel announcing source state changes and deletions: payload `{"t", "r", "s", "d"}`. */
export const SOURCES_CHANNEL = "pgsync_sources";
/** NOTIFY channel telling replicas to re-plan leases now (a lease was released or a source woke up). */
export const LEASES_CHANNEL = "pgsync_leases";

// --- consumer groups (issue 15) ---
/** Consumer group tables (migration 004). */
export const GROUP_TABLES = {
  groups: `${SCHEMA}.consumer_groups`,
  sources: `${SCHEMA}.consumer_group_sources`,
  deliveries: `${SCHEMA}.consumer_deliveries`,
  members: `${SCHEMA}.consumer_group_members`,
} as const;
// --- end consumer groups ---
