"""The YAML config file (``--config FILE``, ``LAYERSCAN_CONFIG`` or ./layerscan.yaml)."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Mapping

from layerscan.errors import UsageError, InputNotFoundError

DEFAULT_NAME = "layerscan.yaml"
MAX_CONFIG = 1024 * 1024


def load_config(explicit: str, cwd: Path | None = None) -> dict[str, Any]:
    """Read the config file: the explicit one must exist; the default one is optional."""
    path = Path(explicit) if explicit else (cwd or Path.cwd()) / DEFAULT_NAME
    if not path.is_file():
        if explicit:
            raise InputNotFoundError("config file", path)
        return {}
    if path.stat().st_size > MAX_CONFIG:
        raise UsageError(f"config file {path} is larger than {MAX_CONFIG // 1024} KiB")
    import yaml

    try:
        doc = yaml.safe_load(path.read_text(encoding="utf-8", errors="replace"))
    except yaml.YAMLError as exc:
        first = str(exc).splitlines()[0] if str(exc) else "syntax error"
        raise UsageError(f"config file {path}: not valid YAML: {first}") from None
    except RecursionError:
        raise UsageError(f"config file {path}: not valid YAML: nested too deeply") from None
    if doc is None:
        return {}
    if not isinstance(doc, Mapping):
        raise UsageError(f"config file {path}: expected a mapping of settings")
    return dict(doc)
