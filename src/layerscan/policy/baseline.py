"""Baseline reports (``--baseline FILE``): gate only on findings that are new.

A baseline is a previous JSON report of layerscan or of Trivy (both use Trivy's
``Results[].Vulnerabilities[]`` shape). A finding is *known* when the baseline
has an entry for the same package name (case-insensitive) and the same
vulnerability, compared by ID and aliases (CVE, GHSA, PYSEC, ...). The
installed version, file path and result target are deliberately ignored: a
package upgraded without fixing the vulnerability, or moved to another
directory, is not a new finding. Findings the baseline listed as suppressed
(``ExperimentalModifiedFindings``) count as known too.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator

from layerscan.errors import UsageError, InputNotFoundError
from layerscan.model import Finding
from layerscan.textload import LoadError, parse_json

MAX_BASELINE = 64 * 1024 * 1024
MAX_ID = 256  # longer IDs/names are not real; they are skipped, not stored


@dataclass(frozen=True)
class Baseline:
    source: str
    keys: frozenset[tuple[str, str]]  # (package name lower-cased, vulnerability id upper-cased)

    def contains(self, finding: Finding) -> bool:
        name = finding.package.name.lower()
        return any((name, vid.upper()) in self.keys for vid in (finding.vulnerability_id, *finding.aliases))


def _invalid(name: str, what: str) -> UsageError:
    return UsageError(f"baseline {name}: {what}",
                      hint="give a JSON report written by 'layerscan ... -f json' or 'trivy image -f json'")


def _list(value: Any, name: str, where: str) -> list:
    if value is None:
        return []
    if not isinstance(value, list):
        raise _invalid(name, f"{where} must be a list")
    return value


def _vulnerabilities(result: Any, name: str, where: str) -> Iterator[dict]:
    if not isinstance(result, dict):
        raise _invalid(name, f"{where} must be an object")
    for i, vuln in enumerate(_list(result.get("Vulnerabilities"), name, f"{where}.Vulnerabilities")):
        if not isinstance(vuln, dict):
            raise _invalid(name, f"{where}.Vulnerabilities[{i}] must be an object")
        yield vuln
    for modified in _list(result.get("ExperimentalModifiedFindings"), name, f"{where}.ExperimentalModifiedFindings"):
        inner = modified.get("Finding") if isinstance(modified, dict) else None
        if isinstance(inner, dict):
            yield inner


def _keys(vuln: dict, name: str, where: str) -> Iterator[tuple[str, str]]:
    vid, pkg = vuln.get("VulnerabilityID"), vuln.get("PkgName")
    if not isinstance(vid, str) or not isinstance(pkg, str) or not vid or not pkg:
        raise _invalid(name, f"{where}: a vulnerability without VulnerabilityID or PkgName")
    aliases = vuln.get("Aliases")
    ids = [vid, *(a for a in aliases if isinstance(a, str))] if isinstance(aliases, list) else [vid]
    for one in ids:
        if len(one) <= MAX_ID and len(pkg) <= MAX_ID:
            yield pkg.lower(), one.upper()


def parse_baseline(data: bytes, name: str = "baseline") -> Baseline:
    try:
        doc = parse_json(data)
    except LoadError as exc:
        raise _invalid(name, f"not valid JSON ({exc.detail[:120]})") from None
    if not isinstance(doc, dict) or "SchemaVersion" not in doc:
        raise _invalid(name, "not a layerscan or Trivy JSON report (no SchemaVersion)")
    keys: set[tuple[str, str]] = set()
    for r, result in enumerate(_list(doc.get("Results"), name, "Results")):
        for vuln in _vulnerabilities(result, name, f"Results[{r}]"):
            keys.update(_keys(vuln, name, f"Results[{r}]"))
    return Baseline(name, frozenset(keys))


def read_report_file(path: str | Path, what: str = "report") -> bytes:
    """A saved JSON report's bytes, bounded while it is read (baselines, ``convert``)."""
    p = Path(path)
    if not p.is_file():
        raise InputNotFoundError(what, p)
    try:
        with p.open("rb") as fh:
            data = fh.read(MAX_BASELINE + 1)
    except OSError as exc:
        raise UsageError(f"{what} {p}: {exc.strerror or exc}") from None
    if len(data) > MAX_BASELINE:
        raise UsageError(f"{what} {p} is larger than {MAX_BASELINE // (1024 * 1024)} MiB")
    return data


def load_baseline(path: str | Path) -> Baseline:
    return parse_baseline(read_report_file(path, "baseline report"), Path(path).name)
