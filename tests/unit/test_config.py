"""Config: defaults need no file; every error names the bad key and what was expected."""

from __future__ import annotations

from pathlib import Path

import pytest

from appliance.config import ConfigError, decode, load_config


def test_defaults_need_no_file(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("APPLIANCE_CONFIG", raising=False)
    config = load_config()
    assert [t.backend for t in config.tiers] == ["llamacpp"]
    assert config.server.port == 8080


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"server": {"port": "eighty"}}, "config: server.port: Expected `int`, got `str`"),
        ({"cache": {"treshold": 0.9}}, "config: cache: Object contains unknown field `treshold`"),
        ({"tiers": [{"name": "x", "backend": "grpc"}]}, "config: tiers[0].backend"),
        (
            {"tiers": [{"name": "x", "backend": "openai", "base_url": "ftp://x"}]},
            "config: tiers[0].base_url: expected a URL",
        ),
        (
            {"tiers": [{"name": "a", "backend": "llamacpp"}, {"name": "a", "backend": "llamacpp"}]},
            "config: tiers[1].name: duplicate",
        ),
        (
            {"tiers": [{"name": "a", "backend": "llamacpp", "model_path": "/nope.gguf"}]},
            "config: tiers[0].model_path: no such file",
        ),
        ({"cache": {"threshold": 1.5}}, "config: cache.threshold"),
        ({"cache": {"encoder_device": "gpu"}}, "config: cache.encoder_device: Invalid enum"),
        ({"cache": {"encoder_precision": "fp16"}}, "config: cache.encoder_precision: Invalid"),
        ({"router": {"cut_points": [0.5]}}, "config: router.cut_points: expected 0 values"),
        ({"unknown_top": 1}, "config: Object contains unknown field `unknown_top`"),
    ],
)
def test_errors_name_the_key(data: dict, message: str) -> None:
    with pytest.raises(ConfigError) as info:
        decode(data)
    assert str(info.value).startswith(message), str(info.value)


def test_relative_state_dir_is_relative_to_the_file(tmp_path: Path) -> None:
    path = tmp_path / "a.toml"
    path.write_text('state_dir = "st"\n')
    assert load_config(path).state_path == tmp_path / "st"


def test_invalid_toml_names_the_file(tmp_path: Path) -> None:
    path = tmp_path / "bad.toml"
    path.write_text("state_dir = \n")
    with pytest.raises(ConfigError, match=r"bad\.toml: not valid TOML"):
        load_config(path)


def test_config_path_from_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "env.toml"
    path.write_text("[server]\nport = 9999\n")
    monkeypatch.setenv("APPLIANCE_CONFIG", str(path))
    assert load_config().server.port == 9999
