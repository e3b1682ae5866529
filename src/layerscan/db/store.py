"""Read-only queries on the vulnerability database (DESIGN.md §3).

Contract used by match/ and report/ (implemented by the db work):

    store = Store.open(path)                  # read-only; DatabaseError if missing/invalid
    store.affected(namespace, package_name)   # -> list[AffectedRow]
    store.advisory(vuln_id)                   # -> Advisory | None  (merged details: NVD CVSS/CWE, aliases)
    store.aliases(vuln_id)                    # -> tuple[str, ...]
    store.kev(cve_id)                         # -> bool
    store.epss(cve_id)                        # -> (score, percentile) | None
    store.eol(product, cycle)                 # -> EolInfo | None   (product: "debian", "python", ...)
    store.metadata()                          # -> dict (schema version, built_at, sources)
    store.namespaces()                        # -> set[str]
"""
