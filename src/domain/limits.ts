/** Size limits on source options; documented in docs/api.md. */
export const SOURCE_LIMITS = {
  /** Longest `url`, in characters. */
  urlMaxChars: 2_048,
  /** Longest `table`, in characters. */
  tableMaxChars: 256,
  /** Most `columns`. */
  columnsMaxCount: 500,
  /** Longest column name, in characters. */
  columnMaxChars: 256,
  /** Longest `where`, in characters. */
  whereMaxChars: 16_384,
  /** Most params (either form). */
  paramsMaxCount: 100,
  /** Longest param value, in characters. */
  paramValueMaxChars: 8_192,
  /** Largest numbered param key. */
  paramKeyMax: 65_535,
  /** Most metadata entries. */
  metadataMaxCount: 32,
  /** Longest metadata key, in characters. */
  metadataKeyMaxChars: 128,
  /** Longest metadata value, in characters. */
  metadataValueMaxChars: 1_024,
} as const;

/** Page sizes of ListSources. */
export const LIST_LIMITS = {
  /** Page size when the request gives 0. */
  defaultPageSize: 100,
  /** Largest page size. */
  maxPageSize: 1_000,
} as const;
