-- API tokens (hashed at rest) and Standard Webhooks: endpoints, the transactional outbox the
-- re-match and ingest paths write their events to, and one delivery row per (event, endpoint).

CREATE TABLE api_tokens (
    id            bigserial PRIMARY KEY,
    key_id        text NOT NULL UNIQUE,           -- the token's public half (lsk_<key_id>_<secret>)
    hash          bytea NOT NULL,                 -- sha256 of the secret half; the secret is never stored
    scope         text NOT NULL CHECK (scope IN ('read', 'write')),
    name          text NOT NULL DEFAULT '',
    created_at    timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE webhook_endpoints (
    id              bigserial PRIMARY KEY,
    url             text NOT NULL,
    secret          text NOT NULL,                -- whsec_<base64>: the receiver needs it to verify signatures
    enabled         boolean NOT NULL DEFAULT true,
    allow_private   boolean NOT NULL DEFAULT false,  -- loopback/private targets allowed (added with --allow-private)
    disabled_reason text NOT NULL DEFAULT '',
    created_at      timestamptz NOT NULL DEFAULT now()
);

-- One row per event; written in the transaction that changed the fleet.
CREATE TABLE webhook_outbox (
    id          bigserial PRIMARY KEY,
    msg_id      text NOT NULL UNIQUE,             -- webhook-id: the same on every retry
    event_type  text NOT NULL,                    -- vulnerability.new, vulnerability.fixed, scan.completed
    image_id    bigint REFERENCES images (id) ON DELETE SET NULL,
    body        text NOT NULL,                    -- the exact bytes signed and posted
    created_at  timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE webhook_deliveries (
    message_id       bigint NOT NULL REFERENCES webhook_outbox (id) ON DELETE CASCADE,
    endpoint_id      bigint NOT NULL REFERENCES webhook_endpoints (id) ON DELETE CASCADE,
    status           text NOT NULL DEFAULT 'pending',   -- pending, delivered, failed, disabled
    attempts         integer NOT NULL DEFAULT 0,
    next_attempt_at  timestamptz NOT NULL DEFAULT now(),
    last_status      integer,                           -- the receiver's last HTTP status
    last_error       text NOT NULL DEFAULT '',
    delivered_at     timestamptz,
    PRIMARY KEY (message_id, endpoint_id)
);
CREATE INDEX webhook_deliveries_due ON webhook_deliveries (next_attempt_at) WHERE status = 'pending';
