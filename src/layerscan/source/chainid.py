"""Chain IDs of a layer stack, as the OCI image spec defines them (config.md, "Layer ChainID"):

    ChainID(L0)   = DiffID(L0)
    ChainID(L0|…|Ln) = sha256(ChainID(L0|…|Ln-1) + " " + DiffID(Ln))

Computed over diff_ids (the uncompressed tars), so recompressing a layer or ``docker save``
does not change them. ``chain_ids(diff_ids)[n]`` names the stack of the first n+1 layers.
"""

from __future__ import annotations

import hashlib
from typing import Iterable


def chain_ids(diff_ids: Iterable[str]) -> tuple[str, ...]:
    out: list[str] = []
    for diff_id in diff_ids:
        if not out:
            out.append(diff_id)
        else:
            out.append("sha256:" + hashlib.sha256(f"{out[-1]} {diff_id}".encode()).hexdigest())
    return tuple(out)
