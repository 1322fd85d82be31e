-- pg-sync state: sources, their Electric cursors, and the append-only change log.
CREATE TABLE pgsync.sources (
  tenant        text        NOT NULL,
  source_ref    text        NOT NULL,
  -- Changes whenever the source is deleted and registered again; resume tokens carry it.
  incarnation   bigint      GENERATED ALWAYS AS IDENTITY,
  options       jsonb       NOT NULL,
  shape_url     text        NOT NULL,
  state         text        NOT NULL DEFAULT 'STARTING'
                CHECK (state IN ('STARTING', 'LIVE', 'BACKING_OFF', 'FAILED', 'IDLE', 'STOPPED')),
  last_error    text,
  created_at    timestamptz NOT NULL DEFAULT now(),
  registered_at timestamptz NOT NULL DEFAULT now(),
  watched_at    timestamptz,
  updated_at    timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (tenant, source_ref)
);

CREATE TABLE pgsync.cursors (
  tenant                    text        NOT NULL,
  source_ref                text        NOT NULL,
  shape_handle              text,
  shape_offset              text,
  log_mode                  text        NOT NULL DEFAULT 'changes_only'
                            CHECK (log_mode IN ('full', 'changes_only')),
  head_seq                  bigint      NOT NULL DEFAULT 0,
  up_to_date_at             timestamptz,
  -- Fencing: the owner's generation; a write with an older generation is refused.
  generation                bigint      NOT NULL DEFAULT 0,
  owner                     text,
  lease_expires_at          timestamptz,
  updated_at                timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (tenant, source_ref),
  FOREIGN KEY (tenant, source_ref) REFERENCES pgsync.sources (tenant, source_ref) ON DELETE CASCADE
);

CREATE TABLE pgsync.changes (
  tenant        text        NOT NULL,
  source_ref    text        NOT NULL,
  seq           bigint      NOT NULL,
  kind          text        NOT NULL CHECK (kind IN ('change', 'gap')),
  shape_offset  text,
  operation     text        CHECK (operation IN ('insert', 'update', 'delete')),
  key           text,
  value         jsonb,
  old_value     jsonb,
  txids         bigint[],
  -- For gap entries: reason, last good offset, new handle.
  gap           jsonb,
  created_at    timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (tenant, source_ref, seq),
  FOREIGN KEY (tenant, source_ref) REFERENCES pgsync.sources (tenant, source_ref) ON DELETE CASCADE
);

-- A batch re-read after a crash cannot be logged twice.
CREATE UNIQUE INDEX changes_offset_unique ON pgsync.changes (tenant, source_ref, shape_offset)
  WHERE kind = 'change';
CREATE INDEX changes_created_at ON pgsync.changes (created_at);
