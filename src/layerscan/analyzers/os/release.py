"""OS detection from os-release and the distributions' own release files.

Family strings follow Trivy's vocabulary (``alma``, ``oracle``, ``cbl-mariner``,
``slem``, ``centos-stream``, ...), as the corpus' os-release cases expect.

One image usually holds several of these files (Ubuntu has ``lsb-release``,
``os-release`` *and* ``debian_version``; Oracle Linux has ``oracle-release``
*and* ``redhat-release``). The analyzer reports what each file says;
:func:`pick_os` chooses:

- the family comes from a distro-specific release file if there is one, else
  from os-release, else from the weak files (``debian_version``,
  ``redhat-release``), which derivatives also carry;
- the name (release) comes from the most precise file of that family: a
  release file (``debian_version`` "12.5", ``centos-release`` "7.9.2009")
  before os-release's ``VERSION_ID`` ("12", "7").

Distroless Debian images may have no release file at all, only dpkg
``status.d/`` entries: :func:`infer_os` gives ``OSInfo("debian", "")`` then.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping
from typing import ClassVar

from layerscan.analyzers.base import INSTALLED, FileSpec, spec
from layerscan.analyzers.langbase import FileAnalyzer, Parsed, ParseError
from layerscan.model import OSInfo
from layerscan.model.image import OS_RELEASE_FAMILIES

OS_RELEASE_PATHS = frozenset(
    {
        "etc/os-release",
        "usr/lib/os-release",
        # Bottlerocket keeps its os-release in the target sysroot.
        "aarch64-bottlerocket-linux-gnu/sys-root/usr/lib/os-release",
        "x86_64-bottlerocket-linux-gnu/sys-root/usr/lib/os-release",
    }
)

# "<Distro name> release <version> (<codename>)" -> family, by lower-cased prefix.
_RELEASE_LINE = re.compile(r"^(?P<distro>.+?)\s+release\s+(?P<version>\d[\d.]*)")
_RELEASE_PREFIXES: tuple[tuple[str, str], ...] = (
    ("centos stream", "centos-stream"),
    ("centos", "centos"),
    ("rocky", "rocky"),
    ("almalinux", "alma"),
    ("oracle", "oracle"),
    ("fedora", "fedora"),
    ("amazon", "amazon"),
    ("red hat", "redhat"),
)

_VERSION_TOKEN = re.compile(r"\b(\d+(?:\.\d+)*)\b")

MAX_RELEASE_FILE = 64 * 1024


def _text(data: bytes) -> str:
    return data.decode("utf-8", errors="replace")


def parse_key_values(text: str) -> dict[str, str]:
    """KEY=VALUE lines (os-release, lsb-release); quotes and backslash escapes removed."""
    result: dict[str, str] = {}
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line.startswith("#") or "=" not in line:
            continue
        key, _, value = line.partition("=")
        key = key.strip()
        if key.isidentifier():
            result[key] = _unquote(value.strip())
    return result


def _unquote(value: str) -> str:
    if len(value) >= 2 and value[0] == value[-1] and value[0] in "\"'":
        value = value[1:-1]
    return re.sub(r"\\(.)", r"\1", value)


def parse_os_release(data: bytes) -> OSInfo | None:
    """``etc/os-release``: ID -> family, VERSION_ID -> name. Unknown IDs and a
    missing VERSION_ID give None (Debian testing/sid: ``debian_version`` names it)."""
    fields = parse_key_values(_text(data))
    os_id = fields.get("ID", "").lower()
    family = OS_RELEASE_FAMILIES.get(os_id)
    if family is None or not fields.get("VERSION_ID"):
        return None
    if family == "centos" and "stream" in fields.get("NAME", "").lower():
        family = "centos-stream"
    return OSInfo(
        family=family,
        name=fields.get("VERSION_ID", ""),
        pretty_name=fields.get("PRETTY_NAME", ""),
        codename=fields.get("VERSION_CODENAME", ""),
    )


def parse_lsb_release(data: bytes) -> OSInfo | None:
    """``etc/lsb-release``: only Ubuntu's counts (other derivatives reuse the file)."""
    fields = parse_key_values(_text(data))
    if fields.get("DISTRIB_ID", "").lower() != "ubuntu" or not fields.get("DISTRIB_RELEASE"):
        return None
    return OSInfo(
        family="ubuntu",
        name=fields["DISTRIB_RELEASE"],
        pretty_name=fields.get("DISTRIB_DESCRIPTION", ""),
        codename=fields.get("DISTRIB_CODENAME", ""),
    )


def parse_single_line(family: str) -> Callable[[bytes], OSInfo | None]:
    """Files whose first line is the release: ``alpine-release``, ``debian_version``."""

    def parse(data: bytes) -> OSInfo | None:
        lines = _text(data).strip().splitlines()
        name = lines[0].strip() if lines else ""
        if not name or len(name) > 64 or any(c.isspace() for c in name):
            return None
        return OSInfo(family=family, name=name)

    return parse


def parse_release_line(data: bytes) -> OSInfo | None:
    """``redhat-release`` and friends: "Rocky Linux release 9.3 (Blue Onyx)"."""
    for line in _text(data).splitlines():
        line = line.strip()
        if line.lower().startswith("amazon linux"):
            return _amazon(line)
        match = _RELEASE_LINE.match(line)
        if match is None:
            continue
        distro = match["distro"].lower()
        family = next((fam for prefix, fam in _RELEASE_PREFIXES if distro.startswith(prefix)), "redhat")
        return OSInfo(family=family, name=match["version"], pretty_name=line)
    return None


def _amazon(line: str) -> OSInfo | None:
    """Amazon Linux names exactly as Trivy reports them (its detector reads them):
    "AMI release 2018.03" (AL1), "2 (Karoo)", "2023 (Amazon Linux)"."""
    fields = line.split()
    if line.startswith("Amazon Linux release 2"):
        name = " ".join(fields[3:]) if len(fields) >= 5 else ""  # AL2+ always carry a code name
    else:
        name = " ".join(fields[2:])
    return OSInfo(family="amazon", name=name, pretty_name=line) if name else None


def parse_first_version(family: str) -> Callable[[bytes], OSInfo | None]:
    """Files like "VMware Photon OS 4.0" or "CBL-Mariner 2.0.20220226": first number."""

    def parse(data: bytes) -> OSInfo | None:
        lines = _text(data).strip().splitlines()
        if not lines:
            return None
        match = _VERSION_TOKEN.search(lines[0])
        return OSInfo(family=family, name=match.group(1), pretty_name=lines[0].strip()) if match else None

    return parse


def parse_suse_release(data: bytes) -> OSInfo | None:
    """Old ``etc/SuSE-release``: product line, then VERSION = / PATCHLEVEL = lines."""
    text = _text(data)
    lines = text.strip().splitlines()
    if not lines:
        return None
    fields = {k.strip(): v.strip() for k, _, v in (ln.partition("=") for ln in lines[1:]) if v}
    version = fields.get("VERSION", "")
    if not version:
        return None
    product = lines[0].lower()
    if "opensuse" in product:
        return OSInfo(family="opensuse-leap", name=version, pretty_name=lines[0].strip())
    patch = fields.get("PATCHLEVEL", "")
    name = f"{version}.{patch}" if patch and patch != "0" else version
    return OSInfo(family="suse linux enterprise server", name=name, pretty_name=lines[0].strip())


# Distro-specific files (strong), then the ones derivatives also carry (weak).
_RELEASE_FILES: Mapping[str, Callable[[bytes], OSInfo | None]] = {
    "etc/alpine-release": parse_single_line("alpine"),
    "etc/lsb-release": parse_lsb_release,
    "etc/centos-release": parse_release_line,
    "etc/rocky-release": parse_release_line,
    "etc/almalinux-release": parse_release_line,
    "etc/oracle-release": parse_release_line,
    "etc/fedora-release": parse_release_line,
    "etc/system-release": parse_release_line,
    "usr/lib/system-release": parse_release_line,
    "etc/photon-release": parse_first_version("photon"),
    "etc/mariner-release": parse_first_version("cbl-mariner"),
    "etc/azurelinux-release": parse_first_version("azurelinux"),
    "etc/SuSE-release": parse_suse_release,
    "etc/debian_version": parse_single_line("debian"),
    "etc/redhat-release": parse_release_line,
}
WEAK_FILES = frozenset({"etc/debian_version", "etc/redhat-release"})
RELEASE_PATHS = frozenset(_RELEASE_FILES) | OS_RELEASE_PATHS


def parse(path: str, data: bytes) -> OSInfo | None:
    """What one release file says, or None if it names no OS we know."""
    if path in OS_RELEASE_PATHS:
        return parse_os_release(data)
    parser = _RELEASE_FILES.get(path)
    return parser(data) if parser else None


def _family_rank(path: str) -> int:
    if path in WEAK_FILES:
        return 0
    return 1 if path in OS_RELEASE_PATHS else 2


def _name_rank(path: str) -> int:
    return 0 if path in OS_RELEASE_PATHS else 1


def pick_os(found: Iterable[tuple[str, OSInfo]]) -> OSInfo | None:
    """Choose the image's OS from (path, OSInfo) pairs of the squashed filesystem."""
    candidates = [(path, info) for path, info in found if info.family]
    if not candidates:
        return None
    # etc/os-release beats usr/lib/os-release when both exist (max keeps the first best).
    candidates.sort(key=lambda c: c[0] != "etc/os-release")
    _, best = max(candidates, key=lambda c: _family_rank(c[0]))
    same = [c for c in candidates if c[1].family == best.family and c[1].name]
    if not same:
        return best
    _, named = max(same, key=lambda c: _name_rank(c[0]))
    pretty = best.pretty_name or named.pretty_name
    codename = best.codename or named.codename
    return OSInfo(family=best.family, name=named.name, pretty_name=pretty, codename=codename)


def infer_os(package_types: Iterable[str]) -> OSInfo | None:
    """Fallback when no release file exists: dpkg packages (distroless) -> Debian, release unknown."""
    return OSInfo(family="debian", name="") if "deb" in set(package_types) else None


class OSReleaseAnalyzer(FileAnalyzer):
    name: ClassVar[str] = "os-release"
    version: ClassVar[int] = 1
    description: ClassVar[str] = "OS identification: /etc/os-release and the distributions' own release files"
    files: ClassVar[FileSpec] = spec(paths=tuple(RELEASE_PATHS))
    modes: ClassVar[frozenset[str]] = INSTALLED
    max_file_size: ClassVar[int] = MAX_RELEASE_FILE

    def matches(self, path: str) -> bool:
        return path in RELEASE_PATHS

    def parse_file(self, path: str, data: bytes) -> Parsed:
        if b"\x00" in data:
            raise ParseError("release file is binary")
        info = parse(path, data)
        if info is None:
            if path in OS_RELEASE_PATHS or path == "etc/lsb-release":
                return Parsed()  # a valid file naming no OS (release) we scan
            raise ParseError("unrecognised release file content")
        return Parsed(os=info)
