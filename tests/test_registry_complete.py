"""The registries are complete and the analyzer index loses nothing.

- every Analyzer subclass in ``layerscan.analyzers`` is registered, and declares the
  files it reads (``files``), so the walker's index can route tar members to it;
- the index is a superset of ``wants``: for any path, an analyzer that would want the
  file is among its candidates (hypothesis over a vocabulary of the names analyzers
  know, plus every fixture path this project and the corpus carry);
- every feed module is reachable from the feed registry, every report module from
  the writer table, every version-scheme module from the scheme table;
- every feed ``db update`` downloads declares its source (its own name, a default URL,
  documented in docs/cli.md) and ``db.update.SOURCES`` is exactly those feeds;
- every analyzer describes itself and declares its result Type (one an ecosystem record
  knows), and docs/analyzers.md is what ``python -m layerscan.analyzers.docs`` writes.
"""

from __future__ import annotations

import importlib
import inspect
import pkgutil
import stat
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import layerscan.analyzers as analyzers_pkg
from layerscan.analyzers import all_analyzers
from layerscan.analyzers.base import Analyzer
from layerscan.analyzers.docs import render as render_analyzer_docs
from layerscan.analyzers.index import AnalyzerIndex
from layerscan.db.feeds import registry as feed_registry
from layerscan.ecosystems import result_type_packages
from layerscan.db.update import DEFAULT_URLS, SOURCES, UpdateOptions
from layerscan.report import WRITERS
from layerscan.versions import _SCHEMES

from conftest_paths import CORPUS

SRC = Path(analyzers_pkg.__file__).parent.parent
ANALYZERS = all_analyzers()
INDEX = AnalyzerIndex(ANALYZERS)
MODES = (stat.S_IFREG | 0o644, stat.S_IFREG | 0o755)


def _modules(package: str) -> list[str]:
    pkg = importlib.import_module(package)
    return [m.name for m in pkgutil.walk_packages(pkg.__path__, package + ".")]


def test_every_analyzer_class_is_registered():
    registered = {type(a) for a in ANALYZERS}
    missing = []
    for name in _modules("layerscan.analyzers"):
        module = importlib.import_module(name)
        for _, cls in inspect.getmembers(module, inspect.isclass):
            if (issubclass(cls, Analyzer) and not inspect.isabstract(cls) and cls.__module__ == name
                    and not cls.__name__.startswith("_")):
                if cls not in registered:
                    missing.append(f"{name}:{cls.__name__}")
    assert missing == []


@pytest.mark.parametrize("analyzer", ANALYZERS, ids=lambda a: a.name)
def test_every_registered_analyzer_declares_its_files(analyzer):
    assert not analyzer.files.empty, f"{analyzer.name} declares no files: it would be offered every tar member"
    assert analyzer.files.describe()
    assert analyzer.modes, analyzer.name


@pytest.mark.parametrize("analyzer", ANALYZERS, ids=lambda a: a.name)
def test_every_registered_analyzer_describes_itself_and_its_result_type(analyzer):
    assert analyzer.description and "\n" not in analyzer.description, f"{analyzer.name}: one-line description"
    if type(analyzer).__module__.startswith("layerscan.analyzers.os."):
        assert analyzer.result_type == "", "OS package results are typed by the distribution"
    else:
        assert analyzer.result_type in result_type_packages(), (
            f"{analyzer.name}: result_type {analyzer.result_type!r} is in no ecosystem record's result_types")


def test_analyzer_names_are_unique():
    names = [a.name for a in ANALYZERS]
    assert len(names) == len(set(names))


def test_analyzers_md_is_generated_from_the_registry():
    checked_in = (Path(__file__).parent.parent / "docs" / "analyzers.md").read_text(encoding="utf-8")
    assert checked_in == render_analyzer_docs(), "regenerate: python -m layerscan.analyzers.docs > docs/analyzers.md"


def _missed(path: str, mode: int, size: int = 4096) -> list[str]:
    offered = {id(a) for a in INDEX.candidates(path, mode)}
    return [a.name for a in ANALYZERS if a.wants(path, mode, size) and id(a) not in offered]


def _vocabulary() -> list[str]:
    """Path segments analyzers react to, taken from their own declarations, plus near misses."""
    words = {"usr", "lib", "local", "app", "src", "x", "Foo", "node_modules", "vendor", "composer", "site-packages",
             "dist-packages", "python3.11", "conda-meta", "specifications", "gems", ".registry", "pecl", "info",
             "status.d", "requirements-dev.txt", "dev-requirements.TXT", "requirements.in", "pylock.toml",
             "pylock.dev.toml", "pyproject.toml", "foo-1.0.dist-info", "foo-1.0.egg-info", "foo.egg-info",
             "app.deps.json", "app.runtimeconfig.json", "a.jar", "a.WAR", "a.ear", "a.hpi", "a.jpi", "a.par",
             "a.sar", "a.kar", "a.rar", "a.nar", "a.zip", "tool.exe", "lib.dll", "x.gemspec", "x.reg", "x.egg",
             "numpy-1.0-py_0.json", "METADATA", "PKG-INFO", "metadata", "Cargo.lock", "cargo.lock", "go.mod",
             "go.sum", "modules.txt", "yarn.lock", "package.json", "package-lock.json", "npm-shrinkwrap.json",
             "pnpm-lock.yaml", "bun.lock", "bun.lockb", "deno.lock", "Gemfile.lock", "gems.locked", "Pipfile.lock",
             "poetry.lock", "uv.lock", "pdm.lock", "composer.lock", "installed.json", "packages.config",
             "packages.lock.json", "project.assets.json", "paket.lock", "pom.xml", "gradle.lockfile",
             "verification-metadata.xml", "environment.yml", "environment.yaml", "status", "installed",
             "os-release", "Packages", "rpmdb.sqlite", "Packages.db", "x.list", "x.md5sums", ".wh.x", "README"}
    for a in ANALYZERS:
        for path in (*a.files.paths, *a.files.dirs):
            words.update(path.split("/"))
        words.update(a.files.names)
        words.update(f"f.{e}" for e in a.files.extensions)
        words.update(w for prefix in a.files.prefixes for w in (prefix, f"{prefix}3.11.so.1", f"x{prefix}"))
    return sorted(words)


@settings(max_examples=3000, deadline=None)
@given(parts=st.lists(st.sampled_from(_vocabulary()), min_size=1, max_size=7), executable=st.booleans(),
       size=st.sampled_from([0, 100, 4096, 10 << 20]))
def test_index_offers_every_file_an_analyzer_wants(parts, executable, size):
    assert _missed("/".join(parts), MODES[executable], size) == []


def test_index_offers_every_declared_path():
    """The exact paths and directories analyzers declare (the OS package databases)."""
    for a in ANALYZERS:
        for path in (*a.files.paths, *(d + "/x.list" for d in a.files.dirs)):
            assert _missed(path, MODES[0]) == [], path


def _fixture_paths(root: Path) -> list[str]:
    return [p.relative_to(root).as_posix() for p in root.rglob("*") if p.is_file()]


@pytest.mark.parametrize("root", [Path(__file__).parent / "fixtures", CORPUS / "fixtures"], ids=["project", "corpus"])
def test_index_offers_every_fixture_file(root):
    if not root.is_dir():
        pytest.skip(f"{root} absent")
    paths = _fixture_paths(root)
    missed = {p: m for p in paths for mode in MODES if (m := _missed(p, mode))}
    assert missed == {}


def test_every_feed_module_is_reachable_from_the_registry():
    registered = {cls.__module__ for cls in feed_registry.ALL_FEEDS.values()}
    # imported by the registered feeds or by db.update: helpers, not feeds of their own
    helpers = {"base", "common", "members", "registry", "errata", "osv_distro", "oval", "source", "stats",
               "updateinfo"}
    for name in _modules("layerscan.db.feeds"):
        if name.rsplit(".", 1)[-1] in helpers:
            continue
        assert name in registered, f"{name} is not in db.feeds.registry"
    for feed in feed_registry.ALL_FEEDS:
        assert feed in feed_registry.SNIFF_ORDER, f"{feed} is never offered a member by db import"


IMPORT_ONLY_FEEDS = {"nodejs-security-wg", "base-index"}  # read by ``db import``, never downloaded


def _fetchable() -> dict[str, object]:
    return {name: cls.source for name, cls in feed_registry.ALL_FEEDS.items() if cls.source is not None}


def test_every_fetchable_feed_declares_its_source_and_a_default_url():
    fetchable = _fetchable()
    assert set(feed_registry.ALL_FEEDS) - set(fetchable) == IMPORT_ONLY_FEEDS
    for name, source in fetchable.items():
        assert source.key == name, f"{name} declares the source of {source.key} (inherited?)"
        url = urlsplit(source.default_url)
        assert url.scheme == "https" and url.netloc and not source.default_url.endswith("/"), name
        assert callable(source.fetch), name


def test_db_update_sources_are_the_registrys_fetchable_feeds():
    assert sorted(SOURCES) == sorted(_fetchable())
    assert SOURCES == feed_registry.UPDATE_ORDER == tuple(s.key for s in feed_registry.UPDATE_SOURCES)
    assert DEFAULT_URLS == {name: source.default_url for name, source in _fetchable().items()}


def test_every_source_url_can_be_replaced_by_its_environment_variable():
    for name in SOURCES:
        env = {f"LAYERSCAN_DB_{name.upper().replace('-', '_')}_URL": f"http://127.0.0.1:9/{name}/"}
        opts = UpdateOptions(cache_dir=Path("/nonexistent"), env=env)
        assert opts.url(name) == f"http://127.0.0.1:9/{name}"
        assert UpdateOptions(cache_dir=Path("/nonexistent"), env={}).url(name) == DEFAULT_URLS[name]


def test_every_source_and_its_default_url_is_documented():
    text = (Path(__file__).parent.parent / "docs" / "cli.md").read_text(encoding="utf-8")
    missing = [f"{name}: {url}" for name, url in DEFAULT_URLS.items() if f"`{name}`" not in text or url not in text]
    assert missing == []


def test_every_report_module_is_a_writer_or_shared():
    shared = {"document", "dockerfile_map", "fingerprint", "fixplan", "json_input", "text", "versions", "vulninfo"}
    for name in _modules("layerscan.report"):
        if name.rsplit(".", 1)[-1] in shared:
            continue
        assert name in WRITERS.values(), f"{name} is not in report.WRITERS"
    for module in WRITERS.values():
        assert callable(importlib.import_module(module).write)


def test_every_version_scheme_module_is_registered():
    registered = {entry.partition(":")[0] for entry in _SCHEMES.values()}
    for name in _modules("layerscan.versions"):
        if name.rsplit(".", 1)[-1] != "base":
            assert name in registered, f"{name} is not in versions._SCHEMES"
