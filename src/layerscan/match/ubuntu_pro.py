"""Ubuntu Pro (ESM) rows: which advisory rows an Ubuntu package is checked against.

Ubuntu publishes fixes for releases in extended support (esm-infra, esm-apps) under
their own OSV ecosystem, ``Ubuntu:Pro:X.Y`` (stored as namespace ``Ubuntu:Pro:X.Y``).
A package is checked against the standard release ``Ubuntu:X.Y``; when it was
installed from ESM — its version carries an ``esm`` marker (``+esm3``, ``~esm1``),
which only the ESM archive builds — it is also checked against ``Ubuntu:Pro:X.Y``,
and for every vulnerability the Pro namespace has rows for, those rows decide
(an ESM fix that is installed is then reported as fixed, not as the standard
release's open issue). FIPS streams (``Ubuntu:Pro:FIPS...``) are not matched.
"""

from __future__ import annotations

import re
from typing import Any, Protocol

from layerscan.model import Package

ESM_VERSION = re.compile(r"[+~.]esm\d*")
_UBUNTU = "Ubuntu:"
_PRO = "Ubuntu:Pro:"


class RowStore(Protocol):
    def affected(self, namespace: str, package: str) -> list: ...


def pro_namespace(namespace: str) -> str:
    """'Ubuntu:22.04' -> 'Ubuntu:Pro:22.04'; '' for any other namespace."""
    if not namespace.startswith(_UBUNTU) or namespace.startswith(_PRO):
        return ""
    return _PRO + namespace[len(_UBUNTU):]


def installed_from_esm(pkg: Package) -> bool:
    """The binary or its source package was built for the ESM archive."""
    return pkg.type == "deb" and any(ESM_VERSION.search(v) for v in (pkg.version, pkg.src_version) if v)


def _vuln_key(row: Any) -> str:
    return str(row.primary_id or row.vuln_id)


def lookup_namespaces(pkg: Package, namespace: str) -> tuple[str, ...]:
    """Where ``pkg``'s rows are read: ``namespace``, then Ubuntu Pro's when it came from ESM."""
    pro = pro_namespace(namespace)
    return (namespace, pro) if pro and installed_from_esm(pkg) else (namespace,)


def affected_rows(pkg: Package, namespace: str, name: str, store: RowStore) -> list:
    """The rows ``pkg`` is matched against in ``namespace`` (plus Ubuntu Pro's, see above)."""
    rows = store.affected(namespace, name)
    spaces = lookup_namespaces(pkg, namespace)
    if len(spaces) == 1:
        return rows
    pro_rows = store.affected(spaces[1], name)
    covered = {_vuln_key(r) for r in pro_rows}
    return pro_rows + [r for r in rows if _vuln_key(r) not in covered]


def row_namespace(row: Any, namespace: str) -> str:
    """The namespace a matched row came from: its Pro namespace, else the package's."""
    own = row.affected.namespace
    return own if own and own == pro_namespace(namespace) else namespace
