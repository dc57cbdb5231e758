"""The appliance's version, for `appliance --version`, `/healthz`, `/metrics` and the TUI.

It owns one answer to "which build is this": the installed package's metadata, else (a
checkout run without installing) the `pyproject.toml` beside the package. It must stay
cheap and import nothing of the daemon, since the CLI asks it before loading anything.
"""

from __future__ import annotations

import importlib.metadata
import platform
import tomllib
from pathlib import Path

DISTRIBUTION = "llm-appliance"
_PYPROJECT = Path(__file__).resolve().parents[1] / "pyproject.toml"


def version() -> str:
    try:
        return importlib.metadata.version(DISTRIBUTION)
    except importlib.metadata.PackageNotFoundError:
        return _pyproject_version(_PYPROJECT)


def _pyproject_version(path: Path) -> str:
    try:
        found = tomllib.loads(path.read_text(encoding="utf-8"))["project"]["version"]
    except (OSError, KeyError, TypeError, tomllib.TOMLDecodeError):
        return "unknown"
    return str(found)


def build_info() -> dict[str, str]:
    """Labels for the `appliance_build_info` gauge on `/metrics` (Prometheus' *_info idiom)."""
    return {"version": version(), "python": platform.python_version()}
