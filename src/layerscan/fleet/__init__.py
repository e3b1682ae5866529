"""Fleet scale (issue #10): many images' SBOMs stored once in PostgreSQL, matched per distinct
package, re-matched when the vulnerability database changes, answered by an HTTP API.

    fleet.migrate   plain versioned SQL migrations (fleet/schema/NNN_*.sql, table schema_version)
    fleet.store     the PostgreSQL store: images, packages (deduplicated fleet-wide), image_packages,
                    package_vuln, generations; the queries the API answers
    fleet.ingest    an SBOM (from ``scan.pipeline.Scanner.inventory``) into the store; only packages
                    the fleet has not seen are matched
    fleet.rematch   a new database generation: content hash per (namespace, name), re-match the
                    changed keys only, one transaction
    fleet.outbox    per-image webhook events (vulnerability.new/fixed, kev.added, policy.failed,
                    eol.reached, scan.completed), written to the outbox in the re-match's or ingest's own transaction
    fleet.policy    the fleet policy (a severity threshold) and each image's verdict; policy.failed on a flip
    fleet.eol       OS/runtime end of life reached since the last check (``eol_reached``); eol.reached
    fleet.sboms     SBOM documents in (POST /sboms, ``server sbom add``): the CLI's readers, or our JSON report
    fleet.detail    one stored image: JSON detail, and its report document for the HTML layer page
    fleet.webhooks  Standard Webhooks endpoints, signing, SSRF guard, delivery with backoff (410 disables)
    fleet.tokens    API tokens (sha256 at rest, read/write scopes)
    fleet.watch     watched repositories: tag list, one HEAD per matching tag, scans queued for
                    digests not seen before (``tag_digest``), registry errors kept on the watch
    fleet.tasks     the procrastinate app: ``scan_image`` (one pending scan per image), ``rematch``,
                    ``deliver_webhooks``, periodic ``poll_watches``, ``eol_check`` and ``retry_stalled`` (jobs of
                    workers without a heartbeat queued again)
    fleet.api       the Starlette app (``layerscan server``), bearer tokens on every route

Needs the ``server`` extra (psycopg, procrastinate, starlette, uvicorn); nothing else in layerscan
imports this package.
"""
