"""What the registered analyzers declare, as lookup tables built once from the registry.

The report groups language packages by the result Type of the analyzer that found them
(``Package.found_by`` -> ``Analyzer.result_type``) instead of re-deriving it from file
names. Packages no analyzer of ours found (read from an SBOM: ``found_by`` "sbom") are
typed by the analyzer that declares their file's name, when one does.
"""

from __future__ import annotations

from functools import cache

from layerscan.analyzers import all_analyzers


@cache
def analyzer_result_types() -> dict[str, str]:
    """Analyzer name -> its declared result Type ("" for the OS package databases)."""
    return {a.name: a.result_type for a in all_analyzers()}


@cache
def superseded_by_os_packages() -> frozenset[str]:
    """Names of the analyzers whose packages an OS package owning the same file replaces."""
    return frozenset(a.name for a in all_analyzers() if a.superseded_by_os_package)


@cache
def file_name_result_types() -> dict[str, str]:
    """Lowercased file name -> result Type, from the names analyzers declare (``files.names``;
    the first analyzer in registry order wins)."""
    table: dict[str, str] = {}
    for a in all_analyzers():
        if a.result_type:
            for name in sorted(a.files.names):
                table.setdefault(name, a.result_type)
    return table


def result_type(found_by: str, file_path: str) -> str:
    """The result Type of a package found by ``found_by`` in ``file_path`` (the outer file,
    "app.jar" for "app.jar!/x.jar"); "" when neither the analyzer nor the file name says."""
    declared = analyzer_result_types()
    if found_by in declared:
        return declared[found_by]
    return file_name_result_types().get(file_path.rsplit("/", 1)[-1].lower(), "")
