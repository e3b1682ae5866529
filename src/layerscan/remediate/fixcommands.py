"""The one command of a fix-plan group: the package manager of the distribution (OS
packages) or of the ecosystem (language packages), naming every package with its pin.

    Debian/Ubuntu   apt-get update && apt-get install -y --only-upgrade <binary pkgs>
    Alpine/Wolfi    apk upgrade <pkgs>
    RPM distros     dnf update -y <pkgs> (yum on release 7 and Amazon Linux 2; tdnf on Photon and
                    Azure Linux / CBL-Mariner; zypper on SUSE)
    PyPI            pip install 'name==X' ...
    npm             npm install name@X ...
    Maven           the coordinates group:artifact:X (set them in pom.xml / build.gradle)
    Go              go get mod@vX ... (the standard library: build with Go X)
    others          cargo update -p / gem install / composer require / dotnet add package
"""

from __future__ import annotations

import shlex
from typing import Sequence

from layerscan.model import OSInfo

_RPM_TDNF = ("photon", "cbl-mariner", "azurelinux")
_RPM_ZYPPER = ("suse", "opensuse", "sles")
GO_STDLIB = "stdlib"


def os_manager(pkg_type: str, os_info: OSInfo | None) -> str:
    family = (os_info.family if os_info else "").lower()
    release = os_info.name.split()[0] if os_info and os_info.name else ""
    major = release.split(".")[0]
    if pkg_type == "deb":
        return "apt"
    if pkg_type == "apk":
        return "apk"
    if pkg_type == "rpm":
        if family.startswith(_RPM_TDNF):
            return "tdnf"
        if family.startswith(_RPM_ZYPPER):
            return "zypper"
        old = major in ("5", "6", "7") or (family == "amazon" and major == "2")
        return "yum" if old else "dnf"
    return pkg_type


LANG_MANAGERS = {"pypi": "pip", "npm": "npm", "maven": "maven", "golang": "go", "cargo": "cargo",
                 "gem": "gem", "composer": "composer", "nuget": "nuget"}


def lang_manager(pkg_type: str) -> str:
    return LANG_MANAGERS.get(pkg_type, pkg_type)


def os_command(manager: str, binaries: Sequence[str]) -> str:
    names = " ".join(shlex.quote(b) for b in sorted(set(binaries)))
    return {
        "apt": f"apt-get update && apt-get install -y --only-upgrade {names}",
        "apk": f"apk upgrade {names}",
        "dnf": f"dnf update -y {names}",
        "yum": f"yum update -y {names}",
        "tdnf": f"tdnf update -y {names}",
        "zypper": f"zypper --non-interactive update {names}",
    }.get(manager, f"upgrade {names}")


def _go_version(version: str) -> str:
    return version if version.startswith("v") else f"v{version}"


def _quoted(text: str) -> str:
    """Always in single quotes (pip's ``==``/``>`` read as shell syntax otherwise); image
    content is hostile, so a quote inside is escaped by ``shlex``."""
    return f"'{text}'" if "'" not in text else shlex.quote(text)


def _pin(manager: str, name: str, version: str) -> str:
    q = shlex.quote
    return {
        "pip": _quoted(f"{name}=={version}"),
        "npm": q(f"{name}@{version}"),
        "maven": f"{name}:{version}",
        "go": q(f"{name}@{_go_version(version)}"),
        "gem": q(f"{name}:{version}"),
        "composer": q(f"{name}:{version}"),
    }.get(manager, f"{name}@{version}")


def lang_command(manager: str, pins: Sequence[tuple[str, str]]) -> str:
    """One command for ``(name, target)`` pairs of one ecosystem."""
    pins = sorted(set(pins))
    go_std = [v for n, v in pins if manager == "go" and n == GO_STDLIB]
    pins = [(n, v) for n, v in pins if not (manager == "go" and n == GO_STDLIB)]
    parts: list[str] = []
    if manager == "cargo":
        parts += [f"cargo update -p {shlex.quote(n)} --precise {shlex.quote(v)}" for n, v in pins]
    elif manager == "nuget":
        parts += [f"dotnet add package {shlex.quote(n)} --version {shlex.quote(v)}" for n, v in pins]
    elif pins:
        words = " ".join(_pin(manager, n, v) for n, v in pins)
        parts.append({"pip": f"pip install {words}", "npm": f"npm install {words}", "go": f"go get {words}",
                      "gem": f"gem install {words}", "composer": f"composer require {words}",
                      "maven": f"set {words} in the build (pom.xml / build.gradle)"}.get(manager, f"upgrade {words}"))
    if go_std:
        parts.append(f"build with Go {', '.join(sorted(set(go_std)))}")
    return " && ".join(parts)
