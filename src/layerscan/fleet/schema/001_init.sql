-- Fleet store, first version: images as sets of (package, layer) rows, packages stored once
-- fleet-wide, matches per distinct package, and the vulnerability-database generations.

CREATE TABLE images (
    id          bigserial PRIMARY KEY,
    digest      text NOT NULL UNIQUE,          -- manifest digest (else the config digest)
    refs        text[] NOT NULL DEFAULT '{}',  -- every reference it was submitted as
    os          text NOT NULL DEFAULT '',      -- "debian 9.13"
    layers      jsonb NOT NULL DEFAULT '[]',   -- [{"index", "diff_id", "created_by"}]
    scanned_at  timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE packages (
    id          bigserial PRIMARY KEY,
    pkey        text NOT NULL UNIQUE,          -- namespace + purl (or type/name@version): the dedup key
    purl        text NOT NULL DEFAULT '',
    type        text NOT NULL,
    namespace   text NOT NULL DEFAULT '',      -- the advisory namespace it is matched in ("Debian:9", "PyPI")
    name        text NOT NULL,                 -- the advisory name key in that namespace (source package, PEP 503 name)
    version     text NOT NULL,
    doc         jsonb NOT NULL,                -- {"package": ..., "os": ...}: what the matcher needs again
    match_note  text NOT NULL DEFAULT ''       -- why it could not be matched (invalid version, no scheme)
);
CREATE INDEX packages_key ON packages (namespace, name);
CREATE INDEX packages_purl ON packages (purl);

CREATE TABLE image_packages (
    image_id     bigint NOT NULL REFERENCES images (id) ON DELETE CASCADE,
    package_id   bigint NOT NULL REFERENCES packages (id),
    file_path    text NOT NULL DEFAULT '',
    layer_index  integer,                      -- NULL when the layer is unknown (SBOM input)
    PRIMARY KEY (image_id, package_id, file_path)
);
CREATE INDEX image_packages_package ON image_packages (package_id);

CREATE TABLE package_vuln (
    package_id     bigint NOT NULL REFERENCES packages (id) ON DELETE CASCADE,
    vuln_id        text NOT NULL,
    aliases        text[] NOT NULL DEFAULT '{}',
    status         text NOT NULL DEFAULT 'affected',
    fixed_version  text NOT NULL DEFAULT '',
    severity       text NOT NULL DEFAULT 'UNKNOWN',
    advisory_id    text NOT NULL DEFAULT '',
    generation     bigint NOT NULL,
    PRIMARY KEY (package_id, vuln_id)
);
CREATE INDEX package_vuln_vuln ON package_vuln (vuln_id);
CREATE INDEX package_vuln_aliases ON package_vuln USING gin (aliases);

-- One row per vulnerability database the fleet was matched against.
CREATE TABLE generations (
    id            bigserial PRIMARY KEY,
    built_at      text NOT NULL DEFAULT '',
    keys_changed  integer NOT NULL DEFAULT 0,
    packages      integer NOT NULL DEFAULT 0,   -- packages re-matched
    created_at    timestamptz NOT NULL DEFAULT now()
);

-- The content hash of every (namespace, name) key's advisory rows in the current generation.
CREATE TABLE advisory_keys (
    namespace   text NOT NULL,
    name        text NOT NULL,
    hash        bytea NOT NULL,
    generation  bigint NOT NULL,
    PRIMARY KEY (namespace, name)
);
