"""Session fixture: the vulnerability database built from ../shared/corpus/feeds."""

from __future__ import annotations

from pathlib import Path

import pytest

from conftest_paths import CORPUS


@pytest.fixture(scope="session")
def corpus_db(tmp_path_factory: pytest.TempPathFactory) -> Path:
    if not (CORPUS / "feeds").is_dir():
        pytest.skip("../shared/corpus is absent")
    from layerscan.db.build import import_paths

    target = tmp_path_factory.mktemp("corpus-db") / "db" / "layerscan.db"
    import_paths(target, [CORPUS / "feeds"])
    return target
