"""Hostile advisory feed files (``db import``): a YAML alias bomb as an OSV record, JSON
nested 100,000 deep, noise, wrong types, a zip member that inflates past the member limit."""

from __future__ import annotations

import json

from hostile.blobs import MiB, zip_bytes
from hostile.lockfiles import DEEP_JSON

BILLION_LAUGHS = """\
id: PYSEC-9999-1
modified: "2024-01-01T00:00:00Z"
a: &a ["x", "x", "x", "x", "x", "x", "x", "x", "x"]
b: &b [*a, *a, *a, *a, *a, *a, *a, *a, *a]
c: &c [*b, *b, *b, *b, *b, *b, *b, *b, *b]
d: &d [*c, *c, *c, *c, *c, *c, *c, *c, *c]
e: &e [*d, *d, *d, *d, *d, *d, *d, *d, *d]
f: &f [*e, *e, *e, *e, *e, *e, *e, *e, *e]
affected:
  - package: {ecosystem: PyPI, name: x}
    versions: *f
"""

GARBAGE = bytes(range(256)) * 10
WRONG_TYPES = json.dumps({"id": "GO-1", "modified": 5, "affected": "nope"}).encode()


def feed_zip_bomb() -> bytes:
    """An osv ``all.zip`` whose first member inflates 2 MiB of spaces (a few KiB stored)."""
    return zip_bytes({"big.json": b" " * (2 * MiB), "ok.json": b"{}"})


def feed_files() -> dict[str, bytes]:
    """One feed directory of every kind of bad file (each a counted skip)."""
    return {"bomb.yaml": BILLION_LAUGHS.encode(), "deep.json": DEEP_JSON, "garbage.json": GARBAGE,
            "wrong-types.json": WRONG_TYPES, "all.zip": feed_zip_bomb()}
