"""The hostile corpus (issue #16): generators of hostile inputs, one module per input family,
and the manifest that says how layerscan must answer each one.

Stdlib only and deterministic (fixed mtimes, sorted members, seeded noise): the same bytes on
every run, so a case can be regenerated and compared by sha256 and benchmarked against Trivy
and Syft on the very same files. ``python -m tests.hostile.generate OUTDIR`` writes it all;
``tests/test_hostile_corpus.py`` runs every case through the real CLI with a time and a memory
limit. The families:

- ``blobs``: what every family shares (digests, seeded noise, deterministic zips);
- ``archives``: tar layers, docker-save archives and OCI layouts (lying headers, bombs, links);
- ``pkgdb``: package databases (the Debian base, dpkg/rpm/apk bombs, the rpmdb.sqlite
  VIEW/trigger/CTE schemas, METADATA with many headers);
- ``jars``: zip and jar bombs, nested jars, lying end records, member-list bombs;
- ``sboms``: CycloneDX/SPDX documents: object bombs, nesting, wrong types, size;
- ``lockfiles``: lockfiles, ignore/VEX/config files: JSON/TOML/YAML nesting and alias bombs;
- ``feeds``: advisory feed files for ``db import``;
- ``manifest``: the cases (input, command line, accepted exit codes, required property,
  time and memory limits).
"""
