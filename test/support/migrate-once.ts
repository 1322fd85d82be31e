/** Runs pg-sync's migrations once against MIGRATE_DATABASE_URL and prints the versions it applied. */
import pg from "pg";
import { migrate } from "../../src/storage/migrate.js";

const pool = new pg.Pool({ connectionString: process.env.MIGRATE_DATABASE_URL });
const applied = await migrate(pool);
console.log(`applied ${JSON.stringify(applied)}`);
await pool.end();
