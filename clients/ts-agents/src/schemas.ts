import { z } from "zod";

const nonBlank = (what: string) => z.string().regex(/\S/, { error: `${what} must not be blank` });

/** Arguments of `observe_pg_sync`: upstream's parameters (url, table, columns, where, params, replica, wake). */
export const observeArgsSchema = z
  .object({
    url: nonBlank("url")
      .refine((u) => /^https?:\/\//i.test(u), {
        error: "url must be an HTTP(S) Electric shape endpoint, not a database connection string",
      })
      .optional()
      .describe(
        "HTTP(S) URL of the Electric shape endpoint, e.g. http://localhost:3000/v1/shape. Not a postgres:// connection string. Never guess it: omit it to use the pg-sync server's default endpoint.",
      ),
    table: nonBlank("table").describe("Postgres table name to observe."),
    columns: z
      .array(nonBlank("column"))
      .optional()
      .describe("Columns to include; the primary key is required when set."),
    where: nonBlank("where")
      .optional()
      .describe("SQL filter on rows, with $1, $2... placeholders bound from params."),
    params: z
      .union([z.array(z.string()), z.record(z.string().regex(/^[1-9][0-9]*$/), z.string())])
      .optional()
      .describe("Values for the where placeholders: a list, or an object keyed by placeholder number."),
    replica: z
      .enum(["default", "full"])
      .optional()
      .describe("'full' sends full rows and old values on updates."),
    wake: z
      .strictObject({
        ops: z
          .array(z.enum(["insert", "update", "delete"]))
          .optional()
          .describe("Operations that wake; default all."),
        debounceMs: z
          .number()
          .int()
          .min(0)
          .optional()
          .describe("Coalesce changes for this long; 0 wakes on every change."),
      })
      .optional()
      .describe("When to wake."),
  })
  .describe("Observe a Postgres table through pg-sync and wake on matching row changes.");

/** Parsed `observe_pg_sync` arguments. */
export type ObserveArgs = z.infer<typeof observeArgsSchema>;

/** Arguments of `unobserve_pg_sync`. */
export const unobserveArgsSchema = z
  .object({
    sourceRef: nonBlank("sourceRef").optional().describe("The sourceRef returned by observe_pg_sync."),
    table: nonBlank("table").optional().describe("Unobserve the only observation of this table."),
  })
  .describe("Stop observing a pg-sync source; with no arguments, list the active observations.");

/** Parsed `unobserve_pg_sync` arguments. */
export type UnobserveArgs = z.infer<typeof unobserveArgsSchema>;
