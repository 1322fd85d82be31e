-- Electric offsets in an order SQL can compare: `-1` → {-1,0}, `<tx>_<op>` → {tx,op}, `<tx>_inf`
-- → {tx,Infinity}. A snapshot row's offset `<batch end offset>#<index>` (src/bridge/batch.ts) keys
-- as its batch's end offset. NULL for anything else (`now`, malformed), which compares as unknown.
-- Within one shape handle Electric offsets are ordered, so the batch commit drops an input change
-- whose key is <= the cursor's committed key for the same handle: it was logged already.
CREATE FUNCTION pgsync.offset_key(shape_offset text) RETURNS numeric[]
LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE AS $$
  SELECT CASE
    WHEN shape_offset = '-1' THEN ARRAY[-1, 0]::numeric[]
    WHEN shape_offset ~ '^[0-9]+_([0-9]+|inf)(#[0-9]+)?$' THEN ARRAY[
      split_part(shape_offset, '_', 1)::numeric,
      CASE split_part(split_part(shape_offset, '_', 2), '#', 1)
        WHEN 'inf' THEN 'Infinity'::numeric
        ELSE split_part(split_part(shape_offset, '_', 2), '#', 1)::numeric
      END]
  END
$$;
