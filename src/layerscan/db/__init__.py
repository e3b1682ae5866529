"""layerscan.db — the offline vulnerability database (DESIGN.md §3).

Public entry points (import the submodules; this package imports nothing):

- ``db.store.Store.open(path)``: read-only queries used by match/ and report/.
- ``db.build.import_paths(target, paths)`` / ``build_database(target, [BuildInput...])``:
  build from local feed files (any supported format, detected per file).
- ``db.update.update_database(UpdateOptions(cache_dir=...))``: fetch upstream feeds
  (conditional, OSV incremental) and rebuild ``<cache_dir>/db/layerscan.db``.
- ``db.distribute.push_database`` / ``pull_database``: the database as an OCI artifact.
- ``db.feeds.*``: one importer per feed format; ``db.feeds.registry`` routes mixed inputs.
"""
