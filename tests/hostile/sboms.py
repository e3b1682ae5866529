"""Hostile SBOM input: millions of empty objects in a few bytes each, documents nested
hundreds of thousands deep, wrong types everywhere, noise, a 100 MB document, and the
costliest shape still under the value limit."""

from __future__ import annotations

import json
from pathlib import Path

from hostile.blobs import MiB, noise

CDX_HEAD = b'{"bomFormat": "CycloneDX", "specVersion": "1.5", "components": ['


def empty_components(path: Path, size: int = 63 * MiB) -> Path:
    """A CycloneDX of ``size`` bytes of ``{}`` components (was: 3.2 GB of RSS, exit 0)."""
    with open(path, "wb") as fh:
        fh.write(CDX_HEAD)
        count, per = size // 3, 1 << 18
        for start in range(0, count, per):
            fh.write(b"{}," * min(per, count - start))
        fh.write(b"{}]}")
    return path


def big_components(path: Path, size: int = 100 * MiB) -> Path:
    """``size`` bytes of real-looking components: refused by size before parsing."""
    with open(path, "wb") as fh:
        fh.write(CDX_HEAD)
        one = b'{"type": "library", "name": "x", "version": "1"},'
        chunk = one * (MiB // len(one))
        for _ in range(size // len(chunk)):
            fh.write(chunk)
        fh.write(b'{"name": "y"}]}')
    return path


def strings_full_of_structure(tokens: int) -> bytes:
    """One real component whose description holds ``tokens`` JSON punctuation characters."""
    filler = "{[,:" * (tokens // 4 + 1)
    return json.dumps({"bomFormat": "CycloneDX", "specVersion": "1.5", "components": [
        {"type": "library", "name": "lodash", "version": "4.17.20", "purl": "pkg:npm/lodash@4.17.20",
         "description": filler, "properties": [{"name": "escaped \\\" {", "value": "\""}]}]}).encode()


def worst_under_limit(tokens: int, depth: int = 500) -> bytes:
    """Just under ``tokens`` values: dicts with distinct keys nested ``depth`` deep (no comma
    spent on them), beside one real component ``a`` 1."""
    chains, key, budget = [], 0, tokens - 10_000
    while budget > 2 * depth + 1:
        chains.append("".join(f'{{"k{key + i}":' for i in range(depth)) + "0" + "}" * depth)
        key += depth
        budget -= 2 * depth + 1
    return ('{"bomFormat": "CycloneDX", "specVersion": "1.5", "components": '
            '[{"type": "library", "name": "a", "version": "1", "purl": "pkg:npm/a@1"}], '
            f'"x": [{",".join(chains)}]}}').encode()


def _deep_components() -> bytes:
    doc = json.dumps({"bomFormat": "CycloneDX", "specVersion": "1.5", "components": [
        {"name": "a", "components": [{"name": "b", "components": [{"name": "c"}] * 2}] * 2}] * 2}).encode()
    return doc.replace(b'"c"}', b'"c", "components": ' + b'[{"name": "d", "components": ' * 60 + b"[]"
                       + b"}]" * 60 + b"}")


# name -> (document, words the error names when it is refused)
SBOMS = {
    "deep.json": (CDX_HEAD[:-1] + b"[" * 200_000 + b"]" * 200_000 + b"}", ("nested",)),
    "deep-components.json": (_deep_components(), ("nested",)),
    "types.json": (json.dumps({"bomFormat": "CycloneDX", "specVersion": 1.5, "components": {"a": 1},
                               "metadata": [1], "dependencies": "x"}).encode(), ()),
    "types2.json": (json.dumps({"bomFormat": "CycloneDX", "specVersion": "1.5",
                                "components": [5, None, "x", {"name": 7, "version": [], "purl": {"a": 1},
                                                              "properties": "p", "hashes": 3}]}).encode(), ()),
    "spdx-types.json": (json.dumps({"spdxVersion": "SPDX-2.3", "packages": [
        {"name": None, "versionInfo": {}, "externalRefs": "x"}, 3],
        "relationships": {"a": 1}}).encode(), ()),
    "binary.json": (noise(10_000, 31), ("SBOM",)),
    "empty.json": (b"", ("SBOM",)),
    "list.json": (b"[1, 2, 3]", ("SBOM",)),
    "nan.json": (b'{"bomFormat": "CycloneDX", "specVersion": NaN, "components": [{"name": "a", "version": Infinity}]}',
                 ()),
}
