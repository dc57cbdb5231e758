"""The `[fleet]` section and a tier's `base_urls`: absent means one box and one URL, exactly
as before; every error names the key."""

from __future__ import annotations

import pytest

from appliance.config import ConfigError, decode

VLLM = {"name": "gpu", "backend": "vllm"}


def test_no_fleet_section_is_one_box() -> None:
    assert decode({}).fleet.redis_url == ""


def test_a_fleet_and_replicas_decode() -> None:
    config = decode(
        {
            "fleet": {"redis_url": "redis://10.0.0.5:6379/0", "box_name": "gw-1"},
            "tiers": [{**VLLM, "base_urls": ["http://a:8000/v1", "http://b:8000/v1"]}],
        }
    )
    assert config.fleet.box_name == "gw-1"
    assert config.tiers[0].base_urls == ["http://a:8000/v1", "http://b:8000/v1"]


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (
            {"tiers": [{**VLLM, "base_url": "http://a/v1", "base_urls": ["http://b/v1"]}]},
            "config: tiers[0].base_urls: set base_url or base_urls, not both",
        ),
        (
            {"tiers": [{**VLLM, "base_urls": ["http://a/v1", "b:8000"]}]},
            "config: tiers[0].base_urls[1]: expected a URL",
        ),
        ({"fleet": {"redis_url": "localhost:6379"}}, "config: fleet.redis_url: expected redis://"),
        ({"fleet": {"request_timeout_s": 0}}, "config: fleet.request_timeout_s: must be > 0"),
        ({"fleet": {"redis": "x"}}, "config: fleet: Object contains unknown field `redis`"),
    ],
)
def test_errors_name_the_key(data: dict[str, object], message: str) -> None:
    with pytest.raises(ConfigError) as info:
        decode(data)
    assert str(info.value).startswith(message), str(info.value)
