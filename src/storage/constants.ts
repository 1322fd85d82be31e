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
} as const;
