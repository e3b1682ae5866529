-- KEV status per match (kev.added events when a database update lists a vulnerability that already
-- affects an image), the fleet policy (policy.failed when an image's findings flip it from passing
-- to failing), and each image's last policy verdict.

ALTER TABLE package_vuln ADD COLUMN kev boolean NOT NULL DEFAULT false;  -- its CVE is in CISA KEV

-- At most one row: the threshold every image is held to (``layerscan server policy set``).
CREATE TABLE fleet_policy (
    id              boolean PRIMARY KEY DEFAULT true CHECK (id),
    fail_on         text NOT NULL CHECK (fail_on IN ('CRITICAL', 'HIGH', 'MEDIUM', 'LOW', 'UNKNOWN')),
    ignore_unfixed  boolean NOT NULL DEFAULT false,  -- only vulnerabilities with a fixed version count
    updated_at      timestamptz NOT NULL DEFAULT now()
);

ALTER TABLE images ADD COLUMN policy_failing boolean;  -- the last verdict; NULL: not evaluated yet
