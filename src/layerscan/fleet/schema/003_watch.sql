-- Registry watching: repositories whose tags (a glob) are polled by HEAD for their digests, and
-- every (repository, tag, digest) a poll has seen. No registry credentials are stored: a poll and
-- the scans it queues authenticate as the worker does (its --username/--password, docker config).

CREATE TABLE watch (
    id             bigserial PRIMARY KEY,
    repository     text NOT NULL,                 -- registry/repository, no tag ("ghcr.io/team/app")
    tag_pattern    text NOT NULL DEFAULT '*',     -- glob over tags ("1.*", "v[0-9]*")
    insecure       boolean NOT NULL DEFAULT false, -- plain HTTP / unverified TLS for this registry
    interval_s     integer NOT NULL DEFAULT 300 CHECK (interval_s > 0),  -- the periodic poll's spacing
    created_at     timestamptz NOT NULL DEFAULT now(),
    last_polled    timestamptz,
    last_error     text NOT NULL DEFAULT '',      -- '' when the last poll worked
    UNIQUE (repository, tag_pattern)
);

CREATE TABLE tag_digest (
    repository  text NOT NULL,
    tag         text NOT NULL,
    digest      text NOT NULL,                    -- the manifest digest the tag pointed at (HEAD)
    first_seen  timestamptz NOT NULL DEFAULT now(),
    last_seen   timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (repository, tag, digest)
);
CREATE INDEX tag_digest_digest ON tag_digest (digest);
