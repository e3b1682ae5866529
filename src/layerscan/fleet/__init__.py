"""Fleet scale (issue #10): many images' SBOMs stored once in PostgreSQL, matched per distinct
package, re-matched when the vulnerability database changes, answered by an HTTP API.

    fleet.migrate   plain versioned SQL migrations (fleet/schema/NNN_*.sql, table schema_version)
    fleet.store     the PostgreSQL store: images, packages (deduplicated fleet-wide), image_packages,
                    package_vuln, generations; the queries the API answers
    fleet.ingest    an SBOM (from ``scan.pipeline.Scanner.inventory``) into the store; only packages
                    the fleet has not seen are matched
    fleet.rematch   a new database generation: content hash per (namespace, name), re-match the
                    changed keys only, one transaction
    fleet.tasks     the procrastinate app: ``scan_image`` (one pending scan per image), ``rematch``
    fleet.api       the Starlette app (``layerscan server``)

Needs the ``server`` extra (psycopg, procrastinate, starlette, uvicorn); nothing else in layerscan
imports this package.
"""
