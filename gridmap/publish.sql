-- gridmap's database layout (one schema per grid system; @schema@ and @srid@ are filled in by
-- gridmap/publish.py with a quoted identifier and an integer). Every statement is idempotent.
--
--   runs          one row per published run: name, who, when, villages, manifest (inputs' fingerprints, options, versions)
--   grids         every version of every grid: valid_from_run .. valid_to_run (NULL = current)
--   grids_current view: the live layer (valid_to_run IS NULL)
--   code_ledger   every code ever issued: issued_in_run, retired_in_run, replaced_by
--   addresses     each run's address points with their grid (addresses_current: latest run per village)
--   liaison       each run's household-liaison groups (联户) (liaison_current)
--   violations    each run's problems: addresses outside boundaries, repaired polygons, flagged grids
--
-- Rules the database itself enforces:
--   * a grid code is 15 digits and starts with its village/community's 12-digit code (CHECK);
--   * a code is unique among current grids (partial unique index);
--   * a retired code can never be issued again, a retired code cannot be un-retired, and the
--     ledger is append-only (triggers);
--   * geometry columns are typed with the run's SRID and indexed with GiST.

CREATE SCHEMA IF NOT EXISTS @schema@;

CREATE TABLE IF NOT EXISTS @schema@.meta (
    key   text PRIMARY KEY,
    value text NOT NULL
);

CREATE TABLE IF NOT EXISTS @schema@.runs (
    run_id          integer GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    name            text NOT NULL,
    run_digest      text NOT NULL UNIQUE,
    published_at    timestamptz NOT NULL DEFAULT now(),
    published_by    text NOT NULL DEFAULT current_user,
    client_user     text,
    created         timestamptz,
    gridmap_version text,
    villages        text[] NOT NULL,
    grids           integer NOT NULL,
    srid            integer NOT NULL,
    manifest        jsonb NOT NULL
);

CREATE TABLE IF NOT EXISTS @schema@.grids (
    id              bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    grid_code       text NOT NULL CONSTRAINT grid_code_format CHECK (grid_code ~ '^[0-9]{15}$'),
    village_code    text NOT NULL CONSTRAINT village_code_format CHECK (village_code ~ '^[0-9]{12}$'),
    village_name    text,
    seq             text,
    grid_type       text,
    rule            text,
    households      integer,
    population      double precision,
    units           integer,
    area_m2         double precision,
    compactness     double precision,
    status          text,
    flag            text,
    note            text,
    note_en         text,
    reason          jsonb,
    min_households  integer,
    max_households  integer,
    kept            boolean,
    valid_from_run  integer NOT NULL REFERENCES @schema@.runs,
    valid_to_run    integer REFERENCES @schema@.runs,
    geom            geometry(MultiPolygon, @srid@) NOT NULL,
    CONSTRAINT grid_code_in_village CHECK (left(grid_code, 12) = village_code),
    CONSTRAINT valid_runs_ordered CHECK (valid_to_run IS NULL OR valid_to_run > valid_from_run)
);
-- layout 2: the note in English beside the Chinese one, and the reason as data (gridmap.catalog words it)
ALTER TABLE @schema@.grids ADD COLUMN IF NOT EXISTS note_en text;
ALTER TABLE @schema@.grids ADD COLUMN IF NOT EXISTS reason jsonb;
CREATE UNIQUE INDEX IF NOT EXISTS grids_current_code ON @schema@.grids (grid_code) WHERE valid_to_run IS NULL;
CREATE INDEX IF NOT EXISTS grids_current_village ON @schema@.grids (village_code) WHERE valid_to_run IS NULL;
CREATE INDEX IF NOT EXISTS grids_geom ON @schema@.grids USING gist (geom);

CREATE OR REPLACE VIEW @schema@.grids_current AS
    SELECT * FROM @schema@.grids WHERE valid_to_run IS NULL;

CREATE TABLE IF NOT EXISTS @schema@.code_ledger (
    grid_code       text PRIMARY KEY CONSTRAINT ledger_code_format CHECK (grid_code ~ '^[0-9]{15}$'),
    village_code    text NOT NULL,
    issued_in_run   integer REFERENCES @schema@.runs,   -- NULL: issued before this database knew the grid system
    retired_in_run  integer REFERENCES @schema@.runs,   -- NULL: still in use
    replaced_by     text,
    CONSTRAINT ledger_code_in_village CHECK (left(grid_code, 12) = village_code)
);
CREATE INDEX IF NOT EXISTS code_ledger_village ON @schema@.code_ledger (village_code);

CREATE TABLE IF NOT EXISTS @schema@.addresses (
    run_id          integer NOT NULL REFERENCES @schema@.runs,
    address_id      integer NOT NULL,
    grid_code       text,
    village_code    text,
    village_name    text,
    grid_type       text,
    households      double precision,
    population      double precision,
    liaison_code    text,
    attributes      jsonb,
    geom            geometry(Point, @srid@),
    PRIMARY KEY (run_id, address_id)
);
CREATE INDEX IF NOT EXISTS addresses_geom ON @schema@.addresses USING gist (geom);
CREATE INDEX IF NOT EXISTS addresses_village ON @schema@.addresses (village_code, run_id);

CREATE TABLE IF NOT EXISTS @schema@.liaison (
    run_id          integer NOT NULL REFERENCES @schema@.runs,
    liaison_code    text NOT NULL,
    grid_code       text NOT NULL,
    attributes      jsonb,
    geom            geometry(MultiPolygon, @srid@),
    PRIMARY KEY (run_id, liaison_code)
);
CREATE INDEX IF NOT EXISTS liaison_geom ON @schema@.liaison USING gist (geom);

CREATE TABLE IF NOT EXISTS @schema@.violations (
    run_id          integer NOT NULL REFERENCES @schema@.runs,
    kind            text NOT NULL,
    flag            text,
    ref             text,
    message         text,
    message_en      text,
    reason          jsonb,
    geom            geometry(Geometry, @srid@)
);
ALTER TABLE @schema@.violations ADD COLUMN IF NOT EXISTS message_en text;
ALTER TABLE @schema@.violations ADD COLUMN IF NOT EXISTS reason jsonb;
CREATE INDEX IF NOT EXISTS violations_geom ON @schema@.violations USING gist (geom);

-- the latest run that published each village/community
CREATE OR REPLACE VIEW @schema@.village_runs AS
    SELECT v AS village_code, max(r.run_id) AS run_id
    FROM @schema@.runs r, unnest(r.villages) AS v GROUP BY v;

CREATE OR REPLACE VIEW @schema@.addresses_current AS
    SELECT a.* FROM @schema@.addresses a
    JOIN @schema@.village_runs c ON a.run_id = c.run_id AND a.village_code = c.village_code;

CREATE OR REPLACE VIEW @schema@.liaison_current AS
    SELECT l.* FROM @schema@.liaison l
    JOIN @schema@.village_runs c ON l.run_id = c.run_id AND left(l.grid_code, 12) = c.village_code;

-- Issuing a code: a current grid version may carry a code only if the ledger has not retired it;
-- the first time a code appears it is entered in the ledger.
CREATE OR REPLACE FUNCTION @schema@.issue_code() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    retired integer;
BEGIN
    IF NEW.valid_to_run IS NULL THEN
        SELECT l.retired_in_run INTO retired FROM @schema@.code_ledger l WHERE l.grid_code = NEW.grid_code;
        IF retired IS NOT NULL THEN
            RAISE EXCEPTION 'grid code % was retired in run % and can never be issued again', NEW.grid_code, retired
                USING ERRCODE = 'integrity_constraint_violation',
                      HINT = 'give the grid the next unused number of its village (gridmap does this with --previous from this database)';
        END IF;
        INSERT INTO @schema@.code_ledger (grid_code, village_code, issued_in_run)
            VALUES (NEW.grid_code, NEW.village_code, NEW.valid_from_run)
            ON CONFLICT (grid_code) DO NOTHING;
    END IF;
    RETURN NEW;
END $$;

CREATE OR REPLACE TRIGGER grids_issue_code
    AFTER INSERT OR UPDATE OF grid_code, valid_to_run ON @schema@.grids
    FOR EACH ROW EXECUTE FUNCTION @schema@.issue_code();

-- The ledger is append-only: codes are never deleted or renamed, and a retired code stays retired.
CREATE OR REPLACE FUNCTION @schema@.guard_ledger() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP IN ('DELETE', 'TRUNCATE') THEN
        RAISE EXCEPTION 'the code ledger is append-only: codes are never deleted'
            USING ERRCODE = 'integrity_constraint_violation';
    END IF;
    IF NEW.grid_code <> OLD.grid_code OR NEW.village_code <> OLD.village_code
       OR NEW.issued_in_run IS DISTINCT FROM OLD.issued_in_run THEN
        RAISE EXCEPTION 'ledger entry % cannot be changed (only retired)', OLD.grid_code
            USING ERRCODE = 'integrity_constraint_violation';
    END IF;
    IF OLD.retired_in_run IS NOT NULL AND NEW.retired_in_run IS DISTINCT FROM OLD.retired_in_run THEN
        RAISE EXCEPTION 'grid code % was retired in run % and cannot be un-retired', OLD.grid_code, OLD.retired_in_run
            USING ERRCODE = 'integrity_constraint_violation';
    END IF;
    IF NEW.retired_in_run IS NOT NULL AND OLD.retired_in_run IS NULL AND EXISTS (
        SELECT 1 FROM @schema@.grids g WHERE g.grid_code = NEW.grid_code AND g.valid_to_run IS NULL) THEN
        RAISE EXCEPTION 'grid code % is still used by a current grid and cannot be retired', NEW.grid_code
            USING ERRCODE = 'integrity_constraint_violation';
    END IF;
    RETURN NEW;
END $$;

CREATE OR REPLACE TRIGGER code_ledger_guard
    BEFORE UPDATE OR DELETE ON @schema@.code_ledger
    FOR EACH ROW EXECUTE FUNCTION @schema@.guard_ledger();

CREATE OR REPLACE TRIGGER code_ledger_no_truncate
    BEFORE TRUNCATE ON @schema@.code_ledger
    FOR EACH STATEMENT EXECUTE FUNCTION @schema@.guard_ledger();

INSERT INTO @schema@.meta (key, value) VALUES ('srid', '@srid@') ON CONFLICT (key) DO NOTHING;
INSERT INTO @schema@.meta (key, value) VALUES ('layout_version', '2')
    ON CONFLICT (key) DO UPDATE SET value = EXCLUDED.value;
