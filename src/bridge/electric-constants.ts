/** Electric HTTP protocol names used by the bridge and the probe (one place, as in Electric's client). */
export const ELECTRIC_HEADERS = {
  handle: "electric-handle",
  offset: "electric-offset",
  schema: "electric-schema",
  retryAfter: "retry-after",
  contentLength: "content-length",
} as const;

/** Electric query parameters. */
export const ELECTRIC_PARAMS = {
  table: "table",
  columns: "columns",
  where: "where",
  params: "params",
  replica: "replica",
  log: "log",
  offset: "offset",
} as const;

/** Control messages. */
export const ELECTRIC_CONTROL = {
  upToDate: "up-to-date",
  mustRefetch: "must-refetch",
} as const;

/** Offset meaning "from the shape's current end, no history". */
export const OFFSET_NOW = "now";
/** Offset meaning "before everything". */
export const OFFSET_BEFORE_ALL = "-1";
