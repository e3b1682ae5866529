"""The fleet policy: one severity threshold every stored image is held to (``layerscan server policy
set --fail-on HIGH [--ignore-unfixed]``; table ``fleet_policy``), and each image's last verdict
(``images.policy_failing``).

An image fails when one of its vulnerabilities is at least as severe as ``fail_on`` (and, with
``ignore_unfixed``, has a fixed version). The ingest and re-match paths call ``verdicts`` on the
images they touched, in their own transaction: an image whose stored verdict was "passing" and is
"failing" now gets one ``policy.failed`` event (the image that passed on Monday and fails on
Friday). A first verdict (a new image, or a policy just set) and a failing image turning to
passing are stored without an event.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Sequence

from layerscan.fleet import outbox
from layerscan.fleet.outbox import Event, ImageVuln
from layerscan.fleet.store import SEVERITIES

if TYPE_CHECKING:
    import psycopg


class PolicyError(ValueError):
    """A policy the fleet cannot hold images to (an unknown severity)."""


@dataclass(frozen=True)
class FleetPolicy:
    fail_on: str  # CRITICAL, HIGH, MEDIUM, LOW or UNKNOWN (which counts every vulnerability)
    ignore_unfixed: bool = False

    def __post_init__(self) -> None:
        if self.fail_on not in SEVERITIES:
            raise PolicyError(f"fail_on must be one of {', '.join(SEVERITIES)}, not {self.fail_on[:40]!r}")

    def fails(self, vuln: ImageVuln) -> bool:
        severity = vuln.severity if vuln.severity in SEVERITIES else "UNKNOWN"
        return SEVERITIES.index(severity) <= SEVERITIES.index(self.fail_on) and (
            bool(vuln.fixed_version) or not self.ignore_unfixed)

    def as_json(self) -> dict[str, object]:
        return {"fail_on": self.fail_on, "ignore_unfixed": self.ignore_unfixed}


def get_policy(conn: psycopg.Connection) -> FleetPolicy | None:
    row = conn.execute("SELECT fail_on, ignore_unfixed FROM fleet_policy").fetchone()
    return FleetPolicy(str(row[0]), bool(row[1])) if row else None


def failing(policy: FleetPolicy, vulns: dict[str, ImageVuln]) -> list[ImageVuln]:
    return [v for v in vulns.values() if policy.fails(v)]


# whether image ``i`` fails the policy: it holds one of the failing packages (``_fails_args``); with
# the package ids a constant, each image's check is a probe of its primary key that stops at the first hit
_FAILS = "EXISTS (SELECT 1 FROM image_packages ip WHERE ip.image_id = i.id AND ip.package_id = ANY(%(failing)s))"


def _fails_args(conn: psycopg.Connection, policy: FleetPolicy) -> dict[str, object]:
    """The packages with a vulnerability that fails ``policy``, as FleetPolicy.fails decides (a severity
    the store does not know counts as UNKNOWN)."""
    rows = conn.execute(
        "SELECT DISTINCT package_id FROM package_vuln WHERE (%(any)s OR severity = ANY(%(counted)s))"
        " AND (NOT %(fixed)s OR fixed_version <> '')",
        {"any": policy.fail_on == "UNKNOWN", "counted": list(SEVERITIES[:SEVERITIES.index(policy.fail_on) + 1]),
         "fixed": policy.ignore_unfixed}).fetchall()
    return {"failing": [int(r[0]) for r in rows]}


def set_policy(conn: psycopg.Connection, policy: FleetPolicy) -> int:
    """Store ``policy`` and every image's verdict under it (no events; one statement, not one query per
    image); how many images fail it."""
    with conn.transaction():
        conn.execute("INSERT INTO fleet_policy (fail_on, ignore_unfixed) VALUES (%s, %s) ON CONFLICT (id)"
                     " DO UPDATE SET fail_on = EXCLUDED.fail_on, ignore_unfixed = EXCLUDED.ignore_unfixed,"
                     " updated_at = now()", (policy.fail_on, policy.ignore_unfixed))
        conn.execute(f"UPDATE images i SET policy_failing = {_FAILS}", _fails_args(conn, policy))
        row = conn.execute("SELECT count(*) FROM images WHERE policy_failing").fetchone()
    return int(row[0]) if row else 0


def clear_policy(conn: psycopg.Connection) -> bool:
    """Remove the policy (verdicts are forgotten); whether there was one."""
    with conn.transaction():
        gone = conn.execute("DELETE FROM fleet_policy").rowcount
        conn.execute("UPDATE images SET policy_failing = NULL WHERE policy_failing IS NOT NULL")
    return bool(gone)


def verdicts(conn: psycopg.Connection, policy: FleetPolicy | None, image_ids: Sequence[int],
             generation: int) -> list[Event]:
    """Store the verdict of every image in ``image_ids`` (one statement over their stored matches); the
    policy.failed events of the images that flipped from passing to failing (only their vulnerabilities
    are read). Inside the caller's transaction."""
    if policy is None or not image_ids:
        return []
    flipped = [int(i) for i, before in conn.execute(
        f"WITH v AS (SELECT i.id, i.policy_failing AS before, {_FAILS} AS now FROM images i"
        " WHERE i.id = ANY(%(ids)s))"
        " UPDATE images i SET policy_failing = v.now FROM v WHERE i.id = v.id"
        " AND i.policy_failing IS DISTINCT FROM v.now RETURNING i.id, v.before",
        {**_fails_args(conn, policy), "ids": list(image_ids)}) if before is False]
    vulns = outbox.image_vulns(conn, sorted(flipped))
    return [Event(outbox.POLICY_FAILED, i, {"generation": generation, "policy": policy.as_json(),
                                            **outbox.listing(failing(policy, vulns[i]))})
            for i in sorted(flipped)]
