"""A finding's identity across scans, for code-scanning and security dashboards.

The key is what stays the same while an image is rebuilt and retagged: the artifact's
repository (the name without tag or digest), the package (type, name, architecture, the
path it is installed at) and the vulnerability id. The installed version, the image tag
and the digests are left out, so a finding keeps its identity across ``app:1.0`` and
``app:1.1`` and after an upgrade that does not fix it (GitHub code scanning matches alerts
by it: SARIF ``partialFingerprints``; GitLab: the report's vulnerability ``id``).
"""

from __future__ import annotations

import hashlib
import re

from layerscan.errors import ImageError
from layerscan.model import Finding

FINGERPRINT_KEY = "layerscan/findingKey/v1"  # SARIF partialFingerprints key
_DIGEST_SUFFIX = re.compile(r"@[A-Za-z0-9_+.-]+:[0-9a-fA-F]{32,}$")
_TAG_SUFFIX = re.compile(r":[\w][\w.-]{0,127}$")


def artifact_repository(artifact_name: str) -> str:
    """``registry/repo`` for an image reference (tag and digest dropped, Docker Hub names
    as docker prints them); for anything else (archive, directory, ``layout:tag``) the name
    without a trailing ``@digest`` or ``:tag``."""
    from layerscan.source.registry.reference import familiar_repository, parse_reference

    name = artifact_name.strip()
    try:
        return familiar_repository(parse_reference(name))
    except ImageError:
        pass
    name = _DIGEST_SUFFIX.sub("", name)
    head, sep, last = name.rpartition("/")
    return head + sep + _TAG_SUFFIX.sub("", last)


def finding_key(artifact_name: str, f: Finding) -> tuple[str, ...]:
    p = f.package
    path = p.file_path.replace(p.version, "{version}") if len(p.version) > 1 else p.file_path
    return (artifact_repository(artifact_name), p.type, p.name, p.arch, path, f.vulnerability_id)


def fingerprint(artifact_name: str, f: Finding) -> str:
    """Hex SHA-256 of the finding key ("surrogatepass": an undecodable name cannot break it)."""
    text = "\x00".join(finding_key(artifact_name, f))
    return hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()
