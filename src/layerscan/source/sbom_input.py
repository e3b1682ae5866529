"""`layerscan sbom FILE`: read a CycloneDX or SPDX SBOM (ours or another tool's)
into our :class:`~layerscan.model.Sbom`, so it can be matched without the image.

Formats: CycloneDX JSON 1.2-1.6, SPDX 2.x JSON, SPDX 2.x tag-value, Syft JSON, and
any of them wrapped in an in-toto attestation (``predicate``). The file is bounded
(:data:`MAX_SBOM_BYTES`); anything that is not a readable SBOM raises
:class:`~layerscan.errors.ImageError` with one clear line.

    sbom = load_sbom("app.cdx.json")
    sbom = parse_sbom(data, "app.cdx.json")
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any

from layerscan.errors import ImageError, UsageError, InputNotFoundError
from layerscan.model import Sbom
from layerscan.source.sbom.builder import build_sbom
from layerscan.source.sbom.cyclonedx import is_cyclonedx, read_cyclonedx
from layerscan.source.sbom.spdx import is_spdx, read_spdx
from layerscan.source.sbom.spdx_tag import looks_like_tag_value, to_spdx_json
from layerscan.source.sbom.syft_json import is_syft_json, read_syft_json
from layerscan.textload import LoadError, parse_json

# JSON parsing holds ~10x the document in memory; 64 MiB is far above any real SBOM
# (a 2,000-component image SBOM is a few MB) and keeps peak memory near 700 MB.
MAX_SBOM_BYTES = 64 * 1024 * 1024
# Bytes alone do not bound memory: 64 MiB of "{}," is 22 million dicts (3 GB). The
# structural tokens (each "{", "[", "," and ":" outside strings: one per value or key)
# are counted on the bytes before parsing; at the default 2 million (~30,000 packages
# as Trivy, Syft or layerscan write them) any document parses within ~350 MB.
MAX_JSON_TOKENS = 2_000_000
# a string, or an unterminated one up to the end (so no quote starts a second scan: linear)
_JSON_STRING = re.compile(rb'"(?:[^"\\]+|\\.)*+(?:"|\\?\Z)', re.DOTALL)
_HINT = "give a CycloneDX JSON, SPDX (JSON or tag-value) or Syft JSON document"


def load_sbom(path: str | os.PathLike[str], *, max_bytes: int = MAX_SBOM_BYTES) -> Sbom:
    """Read the SBOM file at ``path``."""
    file = Path(path)
    try:
        data = _read_limited(file, max_bytes + 1)
    except FileNotFoundError:
        raise InputNotFoundError("SBOM file", file) from None
    except IsADirectoryError:
        raise UsageError(f"{file} is a directory, not an SBOM file") from None
    except OSError as exc:
        raise ImageError(f"cannot read SBOM {file}: {exc.strerror or exc}") from None
    if len(data) > max_bytes:
        raise ImageError(f"SBOM {file} is larger than {max_bytes // (1024 * 1024)} MiB; refusing it")
    return parse_sbom(data, str(file))


def _read_limited(file: Path, limit: int) -> bytes:
    """Up to ``limit`` bytes. Opened non-blocking so that a named pipe without a writer reads
    as empty instead of hanging; a pipe with a writer (``/dev/stdin``) is read normally."""
    fd = os.open(file, os.O_RDONLY | os.O_NONBLOCK)
    os.set_blocking(fd, True)
    with os.fdopen(fd, "rb") as fh:
        return fh.read(limit)


def parse_sbom(data: bytes, location: str = "sbom") -> Sbom:
    """Parse SBOM bytes; ``location`` names the document in messages and notes."""
    text = _decode(data, location)
    stripped = text.lstrip()
    if stripped.startswith("<"):
        raise ImageError(f"{location}: XML SBOMs are not supported", hint=_HINT)
    if looks_like_tag_value(stripped):
        return build_sbom(*read_spdx(to_spdx_json(stripped, location), location), location)
    if not stripped.startswith(("{", "[")):
        raise ImageError(f"{location}: not a CycloneDX or SPDX document (neither JSON nor SPDX tag-value)",
                         hint=_HINT)
    _check_tokens(data, location)
    doc = _unwrap(_load_json(stripped, location))
    if is_cyclonedx(doc):
        return build_sbom(*read_cyclonedx(doc, location), location)
    if is_spdx(doc):
        return build_sbom(*read_spdx(doc, location), location)
    if is_syft_json(doc):
        return build_sbom(*read_syft_json(doc, location), location)
    raise ImageError(f"{location}: not a CycloneDX or SPDX document", hint=_HINT)


_STRUCTURAL = (b"{", b"[", b",", b":")


def _tokens(data: bytes, start: int = 0, end: int | None = None) -> int:
    return sum(data.count(char, start, end) for char in _STRUCTURAL)


def json_tokens(data: bytes, limit: int = MAX_JSON_TOKENS) -> int:
    """The structural tokens of a JSON text, counted without parsing it (nor copying it):
    a fast upper bound (strings included) when that is within ``limit``; else the count
    outside strings, up to the first past ``limit``."""
    rough = _tokens(data)
    if rough <= limit:
        return rough
    count, pos = 0, 0
    for match in _JSON_STRING.finditer(data):
        count += _tokens(data, pos, match.start())
        if count > limit:
            return count
        pos = match.end()
    return count + _tokens(data, pos)


def _check_tokens(data: bytes, location: str, limit: int = MAX_JSON_TOKENS) -> None:
    count = json_tokens(data, limit)
    if count > limit:
        raise ImageError(f"{location}: more than {limit} JSON values and keys; refusing the SBOM")


def _decode(data: bytes, location: str) -> str:
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise ImageError(f"{location}: not UTF-8 text, so not an SBOM", hint=_HINT) from None


def _load_json(text: str, location: str) -> dict[str, Any]:
    try:
        doc = parse_json(text)
    except LoadError as exc:
        if exc.too_deep:
            raise ImageError(f"{location}: JSON nested too deeply") from None
        raise ImageError(f"{location}: invalid JSON ({exc.detail})", hint=_HINT) from None
    if not isinstance(doc, dict):
        raise ImageError(f"{location}: not a CycloneDX or SPDX document (top level is not an object)",
                         hint=_HINT)
    return doc


def _unwrap(doc: dict[str, Any]) -> dict[str, Any]:
    """An in-toto statement (cosign/Trivy attestations) carries the SBOM as ``predicate``;
    a DSSE envelope is not unwrapped (its payload is signed base64)."""
    predicate = doc.get("predicate")
    if isinstance(predicate, dict) and "predicateType" in doc:
        inner = predicate.get("Data", predicate) if isinstance(predicate.get("Data"), dict) else predicate
        return inner
    return doc
