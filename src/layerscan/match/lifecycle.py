"""End of life of the image's OS and of the runtimes found in it, from the endoflife.date
data in the vulnerability database (no dates in the code).

The OS is looked up as ``match.eol`` does for the scan (same product and cycle); its
state is one of ``supported``, ``extended`` (regular security support ended, extended support
such as Debian LTS until ``eoes``) or ``eol``. Runtimes come from the image config's
``ENV`` (``PYTHON_VERSION``, ``NODE_VERSION``, ... as the official images set them) and
from OS packages (``python3.11``, ``libpython3.5-stdlib``, ``nodejs``, ``php7.0-cli``,
``openjdk-17-jre``, ``golang-1.19-go``, ``ruby3.1``, ``dotnet-runtime-8.0``) and from binaries the
binary classifiers identified without package metadata (``extra`` ``eol_runtime``: a distroless
image's ``python3.11``, a JDK's ``release`` file); each is matched to the
product's release cycle whose components begin its version ("3.6" for 3.6.15).
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass
from typing import Iterable, Protocol

from layerscan.analyzers.binary.engine import EOL_RUNTIME
from layerscan.db.records import EolInfo
from layerscan.match.eol import os_eol
from layerscan.model import OSInfo, Package
from layerscan.model.image import ImageMeta
from layerscan.textload import LoadError, parse_json

STATES = ("supported", "extended", "eol", "unknown")
MAX_ENV = 10_000  # ENV entries read from a config
MAX_VERSION = 64

# runtime -> endoflife.date products to try, in order (the first with data wins)
PRODUCTS: dict[str, tuple[str, ...]] = {
    "python": ("python",), "node": ("nodejs",), "java": ("java", "eclipse-temurin", "openjdk-builds-from-oracle"),
    "go": ("go",), "ruby": ("ruby",), "php": ("php",), "dotnet": ("dotnet",),
}
ENV_VARS = {"PYTHON_VERSION": "python", "NODE_VERSION": "node", "JAVA_VERSION": "java", "GOLANG_VERSION": "go",
            "RUBY_VERSION": "ruby", "PHP_VERSION": "php", "DOTNET_VERSION": "dotnet"}
OS_PACKAGE_TYPES = frozenset({"deb", "apk", "rpm"})
# OS package name -> runtime; group 1 (when present) is the runtime line the name carries
_PACKAGE_NAMES: tuple[tuple[re.Pattern[str], str], ...] = tuple((re.compile(p), r) for p, r in (
    (r"^(?:lib)?python(\d\.\d+)(?:-|$)", "python"), (r"^python3?$", "python"),
    (r"^(?:nodejs|libnode\d*)$", "node"),
    (r"^php(\d\.\d+)(?:-|$)", "php"), (r"^php$", "php"),
    (r"^(?:lib)?ruby(\d\.\d+)(?:-|$)", "ruby"), (r"^ruby$", "ruby"),
    (r"^(?:openjdk-|java-)(\d+)-", "java"), (r"^openjdk(\d+)(?:-|$)", "java"),
    (r"^golang-(\d\.\d+)(?:-|$)", "go"), (r"^(?:go|golang)$", "go"),
    (r"^(?:dotnet|aspnetcore)-runtime-(\d+\.\d+)$", "dotnet"), (r"^dotnet(\d+)-runtime$", "dotnet"),
))
_VERSION_START = re.compile(r"^(?:v|jdk-?|go)?(\d+(?:\.\d+)*)")


class EolLookup(Protocol):
    def eol(self, product: str, cycle: str) -> EolInfo | None: ...

    def eol_cycles(self, product: str) -> list[EolInfo]: ...


@dataclass(frozen=True)
class Runtime:
    name: str  # one of PRODUCTS
    version: str
    evidence: str  # "ENV PYTHON_VERSION=3.6.15", "deb python3.5 3.5.3-1+deb9u1"


@dataclass(frozen=True)
class EolEntry:
    kind: str  # "os" or "runtime"
    name: str  # "debian", "python"
    version: str  # as found: "9.12", "3.6.15"
    product: str = ""  # endoflife.date product; "" when none has data
    cycle: str = ""
    state: str = "unknown"  # one of STATES
    eol: str = ""  # end of regular support (ISO date, or "" when the data has a boolean only)
    extended: str = ""  # end of extended support (Debian LTS, Ubuntu ESM), when the data has one
    latest: str = ""  # the cycle's latest release
    evidence: tuple[str, ...] = ()

    @property
    def is_eol(self) -> bool:
        return self.state == "eol"


def _state(info: EolInfo, today: str, extended_counts: bool) -> str:
    ended = info.is_eol(today)
    if ended is None:
        return "unknown"
    if not ended:
        return "supported"
    if extended_counts and len(info.eoes) >= 10 and info.eoes[:10] > today:
        return "extended"
    return "eol"


def _entry(kind: str, name: str, version: str, info: EolInfo, today: str, evidence: tuple[str, ...],
           extended_counts: bool) -> EolEntry:
    return EolEntry(kind, name, version, info.product, info.cycle, _state(info, today, extended_counts),
                    info.eol if len(info.eol) >= 10 else "", info.eoes if len(info.eoes) >= 10 else "",
                    info.latest, evidence)


def os_entry(os_info: OSInfo | None, store: EolLookup, today: dt.date) -> EolEntry | None:
    """The OS's end-of-life entry (None without an OS); its product and cycle are match.eol's."""
    if os_info is None:
        return None
    status = os_eol(os_info, store, today)
    info = store.eol(status.product, status.cycle) if status else None
    evidence = (f"os-release {os_info.family} {os_info.name}",)
    if info is None:
        return EolEntry("os", os_info.family, os_info.name, evidence=evidence)
    return _entry("os", os_info.family, os_info.name, info, today.isoformat(), evidence, True)


def _env(image: ImageMeta | None) -> list[tuple[str, str]]:
    try:
        config = parse_json(image.config_json) if image and image.config_json else {}
    except LoadError:
        return []
    inner = config.get("config") if isinstance(config, dict) else None
    env = inner.get("Env") if isinstance(inner, dict) else None
    if not isinstance(env, list):
        return []
    pairs = [item.partition("=") for item in env[:MAX_ENV] if isinstance(item, str)]
    return [(k, v) for k, sep, v in pairs if sep]


def _upstream(version: str) -> str:
    """The upstream part of an OS package version: "1:10.24.0~dfsg-1~deb10u1" -> "10.24.0"."""
    text = version.split(":", 1)[1] if ":" in version.split("-", 1)[0] else version
    return re.split(r"[-~+]", text, maxsplit=1)[0]


def _from_package(pkg: Package) -> Runtime | None:
    for pattern, runtime in _PACKAGE_NAMES:
        m = pattern.match(pkg.name)
        if not m:
            continue
        upstream = _upstream(pkg.version)
        line = m.group(1) if m.groups() else ""
        version = upstream if not line or upstream.startswith(line) else line
        return Runtime(runtime, version, f"{pkg.type} {pkg.name} {pkg.version}")
    return None


def find_runtimes(image: ImageMeta | None, packages: Iterable[Package]) -> tuple[Runtime, ...]:
    """Every runtime the config ENV or an OS package shows, in that order of evidence."""
    found = [Runtime(ENV_VARS[k], v.strip()[:MAX_VERSION], f"ENV {k}={v.strip()[:MAX_VERSION]}")
             for k, v in _env(image) if k in ENV_VARS and v.strip()]
    for pkg in packages:
        runtime = _from_package(pkg) if pkg.type in OS_PACKAGE_TYPES else _from_binary(pkg)
        if runtime:
            found.append(runtime)
    return tuple(found)


def _from_binary(pkg: Package) -> Runtime | None:
    """A runtime a binary classifier identified (``analyzers.binary``: ``extra`` ``eol_runtime``)."""
    runtime = dict(pkg.extra).get(EOL_RUNTIME, "")
    if runtime not in PRODUCTS or not pkg.version:
        return None
    return Runtime(runtime, pkg.version.removeprefix("v")[:MAX_VERSION], f"binary {pkg.file_path} {pkg.version}")


def _components(version: str) -> list[str]:
    m = _VERSION_START.match(version.strip())
    return m.group(1).split(".") if m else []


def cycle_for(version: str, cycles: Iterable[EolInfo]) -> EolInfo | None:
    """The release cycle whose dotted components begin ``version`` (the longest such)."""
    parts = _components(version)
    best: EolInfo | None = None
    for info in cycles:
        wanted = info.cycle.split(".")
        if parts[:len(wanted)] == wanted and (best is None or len(wanted) > len(best.cycle.split("."))):
            best = info
    return best


def runtime_entries(runtimes: Iterable[Runtime], store: EolLookup, today: dt.date) -> tuple[EolEntry, ...]:
    """One entry per runtime line found (evidence merged), looked up in the EOL data."""
    merged: dict[tuple[str, str], tuple[EolInfo | None, str, list[str]]] = {}
    for runtime in runtimes:
        info = None
        for product in PRODUCTS[runtime.name]:
            info = cycle_for(runtime.version, store.eol_cycles(product))
            if info is not None:
                break
        key = (runtime.name, info.cycle if info else ".".join(_components(runtime.version)[:2]))
        if key not in merged:
            merged[key] = (info, runtime.version, [])
        merged[key][2].append(runtime.evidence)
    out = []
    for (name, _), (info, version, evidence) in merged.items():
        if info is None:
            out.append(EolEntry("runtime", name, version, evidence=tuple(evidence)))
        else:
            out.append(_entry("runtime", name, version, info, today.isoformat(), tuple(evidence), False))
    return tuple(out)
