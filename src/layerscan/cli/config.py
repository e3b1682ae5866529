"""The YAML config file (``--config FILE``, ``LAYERSCAN_CONFIG`` or ./layerscan.yaml).

When there is no layerscan config at all, Trivy's settings are read instead, so a
pipeline configured for Trivy scans the same way: ./trivy.yaml (Trivy's keys are
ours: severity, exit-code, vulnerability.ignore-unfixed, scan.skip-dirs, ...) and
``TRIVY_<FLAG>`` environment variables for flags without a ``LAYERSCAN_<FLAG>``.
Trivy's cache directory and database repository are never taken: they hold
Trivy's own database format."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Mapping

from layerscan.errors import UsageError, InputNotFoundError
from layerscan.textload import LoadError, parse_yaml

DEFAULT_NAME = "layerscan.yaml"
TRIVY_NAME = "trivy.yaml"
TRIVY_ENV_PREFIX, ENV_PREFIX = "TRIVY_", "LAYERSCAN_"
NOT_FROM_TRIVY = ("cache.dir", "db.repository")  # config keys (and their env vars) Trivy means for itself
MAX_CONFIG = 1024 * 1024


def load_settings(explicit: str, env: Mapping[str, str], environ: Mapping[str, str],
                  cwd: Path | None = None) -> tuple[dict[str, Any], dict[str, str]]:
    """(config, LAYERSCAN_* environment ``env``): ours, or, when no layerscan config exists,
    ./trivy.yaml and the ``TRIVY_*`` variables of ``environ`` under ours."""
    here = cwd or Path.cwd()
    if explicit or (here / DEFAULT_NAME).is_file():
        return load_config(explicit, here), dict(env)
    trivy = _without(load_config(str(here / TRIVY_NAME), here), NOT_FROM_TRIVY) \
        if (here / TRIVY_NAME).is_file() else {}
    return trivy, {**trivy_environment(environ), **env}


def trivy_environment(env: Mapping[str, str]) -> dict[str, str]:
    """``TRIVY_SEVERITY`` -> ``LAYERSCAN_SEVERITY`` etc. (Trivy's variables are its flag names)."""
    skip = {ENV_PREFIX + key.replace(".", "_").replace("-", "_").upper() for key in NOT_FROM_TRIVY}
    skip |= {ENV_PREFIX + "CACHE_DIR", ENV_PREFIX + "DB_REPOSITORY", ENV_PREFIX + "CONFIG"}
    mapped = {ENV_PREFIX + k.removeprefix(TRIVY_ENV_PREFIX): v for k, v in env.items()
              if k.startswith(TRIVY_ENV_PREFIX)}
    return {k: v for k, v in mapped.items() if k not in skip}


def _without(config: dict[str, Any], keys: tuple[str, ...]) -> dict[str, Any]:
    out = dict(config)
    for key in keys:
        out.pop(key, None)
        head, _, leaf = key.partition(".")
        if isinstance(out.get(head), Mapping):
            out[head] = {k: v for k, v in out[head].items() if k != leaf}
    return out


def load_config(explicit: str, cwd: Path | None = None) -> dict[str, Any]:
    """Read the config file: the explicit one must exist; the default one is optional."""
    path = Path(explicit) if explicit else (cwd or Path.cwd()) / DEFAULT_NAME
    if not path.is_file():
        if explicit:
            raise InputNotFoundError("config file", path)
        return {}
    if path.stat().st_size > MAX_CONFIG:
        raise UsageError(f"config file {path} is larger than {MAX_CONFIG // 1024} KiB")
    try:
        doc = parse_yaml(path.read_text(encoding="utf-8", errors="replace"))
    except LoadError as exc:
        first = exc.detail.splitlines()[0] if exc.detail else "syntax error"
        raise UsageError(f"config file {path}: not valid YAML: {first}") from None
    if doc is None:
        return {}
    if not isinstance(doc, Mapping):
        raise UsageError(f"config file {path}: expected a mapping of settings")
    return dict(doc)
