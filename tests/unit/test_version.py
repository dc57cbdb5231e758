"""`appliance --version` and the helpers /healthz, /metrics and the TUI header use."""

from __future__ import annotations

import importlib.metadata
import subprocess
import sys
from pathlib import Path

from prometheus_client import CollectorRegistry, Info, generate_latest

from appliance.version import _pyproject_version, build_info, version

ROOT = Path(__file__).resolve().parents[2]


def test_version_is_the_installed_packages() -> None:
    assert version() == importlib.metadata.version("llm-appliance")


def test_appliance_dash_dash_version_prints_it() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "appliance", "--version"],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout == f"appliance {version()}\n"


def test_pyproject_is_the_fallback_for_a_checkout(tmp_path: Path) -> None:
    assert _pyproject_version(ROOT / "pyproject.toml") == version()
    (tmp_path / "pyproject.toml").write_text('[project]\nname = "x"\nversion = "9.8.7"\n')
    assert _pyproject_version(tmp_path / "pyproject.toml") == "9.8.7"
    assert _pyproject_version(tmp_path / "missing.toml") == "unknown"


def test_build_info_as_a_prometheus_info_metric() -> None:
    """What `/metrics` shows once wired: `Info("appliance_build", …).info(build_info())`."""
    registry = CollectorRegistry()
    Info("appliance_build", "The appliance's build", registry=registry).info(build_info())
    text = generate_latest(registry).decode()
    python = ".".join(map(str, sys.version_info[:3]))
    assert f'appliance_build_info{{python="{python}",version="{version()}"}} 1.0' in text
