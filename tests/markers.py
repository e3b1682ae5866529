"""The ``corpus``, ``registry`` and ``slow`` markers, applied at collection (tests/README.md).

A test is marked by what it uses, so a new test is marked without anyone remembering to:

- ``corpus``: it needs ``../shared/corpus``: a corpus fixture (``corpus``, ``corpus_db``, or a
  fixture built on them), a parameter that is a corpus path (or ``corpus_params``'s
  ``"<no corpus>"`` placeholder), or its code (or a fixture's, or a test helper's it calls)
  names ``CORPUS`` / ``corpus_available`` or a module constant that is a path under the corpus.
- ``registry``: it needs the local docker-registry server (``registry``, ``token_registry``).
- ``slow``: it builds or starts something heavy (see :data:`SLOW_FIXTURES`), runs a peer
  scanner (a helper from ``tests/peers.py``) or is in one of :data:`SLOW_MODULES`.

A test module may still mark itself (``pytestmark = pytest.mark.slow``); nothing is unmarked.
``pytest -m "not slow"`` is the quick lane; ``-m "not corpus and not registry"`` runs without
../shared and without docker-registry.
"""

from __future__ import annotations

import types
from pathlib import Path
from typing import Any, Callable

import pytest

from conftest_paths import CORPUS

TESTS = Path(__file__).resolve().parent
CORPUS_FIXTURES = frozenset({"corpus", "corpus_db"})
REGISTRY_FIXTURES = frozenset({"registry", "token_registry"})
# image builds from the corpus (pip/npm installs), registry servers with skopeo pushes, a
# PostgreSQL cluster, the 1 GiB decompression bomb
SLOW_FIXTURES = REGISTRY_FIXTURES | {"e2e", "postgres", "bomb", "debs"}  # debs: apt-get download
SLOW_MODULES = frozenset({"test_fresh_install", "test_report_html_browser", "test_sbom_input_live"})
PEER_MODULE = "peers"  # tests/peers.py: trivy and syft, run as black boxes
CORPUS_NAMES = frozenset({"CORPUS", "corpus_available"})
_DEPTH = 3  # test -> helper -> helper

Predicate = Callable[[str, Any], bool]


def _under_corpus(value: Any) -> bool:
    if isinstance(value, Path):
        return value == CORPUS or CORPUS in value.parents
    if isinstance(value, str):
        return value == "<no corpus>" or value.startswith(str(CORPUS) + "/")
    if isinstance(value, (tuple, list)):
        return any(_under_corpus(v) for v in value)
    return False


def _names_corpus(name: str, value: Any) -> bool:
    return name in CORPUS_NAMES or _under_corpus(value)


def _is_peer_helper(name: str, value: Any) -> bool:
    return getattr(value, "__module__", None) == PEER_MODULE


def _references(code: types.CodeType, namespace: dict[str, Any], hit: Predicate, depth: int = _DEPTH) -> bool:
    """Does ``code`` (or a nested function, or a test helper it calls) name something ``hit`` accepts?"""
    for name in code.co_names:
        value = namespace.get(name)
        if hit(name, value):
            return True
        inner = getattr(value, "__code__", None)
        if depth and isinstance(inner, types.CodeType) and _is_test_code(inner):
            if _references(inner, getattr(value, "__globals__", {}), hit, depth - 1):
                return True
    return any(_references(const, namespace, hit, depth) for const in code.co_consts
               if isinstance(const, types.CodeType))


def _is_test_code(code: types.CodeType) -> bool:
    return Path(code.co_filename).resolve().parent == TESTS


def _functions(item: pytest.Item) -> list[Callable[..., Any]]:
    """The test function and the functions of every fixture it uses."""
    found = [item.function] if isinstance(item, pytest.Function) else []
    info = getattr(item, "_fixtureinfo", None)
    for defs in (info.name2fixturedefs.values() if info is not None else ()):
        found.extend(d.func for d in defs)
    return [f for f in found if isinstance(getattr(f, "__code__", None), types.CodeType)]


def _code_uses(item: pytest.Item, hit: Predicate) -> bool:
    return any(_references(f.__code__, getattr(f, "__globals__", {}), hit) for f in _functions(item))


def uses_corpus(item: pytest.Item) -> bool:
    if CORPUS_FIXTURES & set(getattr(item, "fixturenames", ())):
        return True
    callspec = getattr(item, "callspec", None)
    if callspec is not None and any(_under_corpus(v) for v in callspec.params.values()):
        return True
    return _code_uses(item, _names_corpus)


def uses_registry(item: pytest.Item) -> bool:
    return bool(REGISTRY_FIXTURES & set(getattr(item, "fixturenames", ())))


def is_slow(item: pytest.Item) -> bool:
    if SLOW_FIXTURES & set(getattr(item, "fixturenames", ())):
        return True
    if item.module is not None and item.module.__name__.rpartition(".")[2] in SLOW_MODULES:
        return True
    return _code_uses(item, _is_peer_helper)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    for item in items:
        if not isinstance(item, pytest.Function):
            continue
        if uses_corpus(item):
            item.add_marker(pytest.mark.corpus)
        if uses_registry(item):
            item.add_marker(pytest.mark.registry)
        if is_slow(item):
            item.add_marker(pytest.mark.slow)
