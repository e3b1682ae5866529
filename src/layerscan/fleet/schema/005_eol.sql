-- End of life reached by a stored image's OS or runtime (``fleet.eol``): one row per image and
-- (kind, name, cycle) the first time a check finds that cycle end of life by the database's
-- endoflife.date data; the row is what keeps the eol.reached event from being sent twice.

CREATE TABLE eol_reached (
    image_id    bigint NOT NULL REFERENCES images (id) ON DELETE CASCADE,
    kind        text NOT NULL,                    -- "os" or "runtime"
    name        text NOT NULL,                    -- "debian", "python"
    cycle       text NOT NULL,                    -- the endoflife.date release cycle: "9", "3.5"
    eol_date    text NOT NULL DEFAULT '',         -- the date support ended ('' when the data has a boolean only)
    reached_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (image_id, kind, name, cycle)
);
