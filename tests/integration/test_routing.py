"""The router through the real server and the shipped model: trivial prompts stay local, hard
ones go to the frontier tier, a dead tier 1 escalates without a 5xx."""

from __future__ import annotations

import openai
import pytest

from tests.conftest import ServerFactory
from tests.serving import Server, sdk

HARD = (
    "Design a distributed rate limiter for a multi-region API gateway and give code: it must "
    "allow at most 1000 requests per minute per API key across all regions, tolerate the "
    "loss of one region, and add no more than 5 ms of latency. Explain the trade-offs."
)


def remote(name: str, upstream: Server, **extra: object) -> dict[str, object]:
    return {
        "name": name,
        "backend": "openai",
        "base_url": upstream.base_url,
        "model": "smollm2-135m-instruct",
        "price": {"input": 0.15, "output": 0.6},
        **extra,
    }


@pytest.fixture(scope="module")
def routed(local_server: Server, server_factory: ServerFactory) -> Server:
    tiers = [
        {"name": "local", "backend": "llamacpp", "model": "local-small"},
        remote("cloud", local_server),
        remote("frontier", local_server),
    ]
    return server_factory({"tiers": tiers, "cache": {"enabled": False}})


def ask(server: Server, content: str, model: str = "auto") -> openai.APIResponse:  # type: ignore[type-arg]
    client = sdk(server.base_url, "x")
    return client.chat.completions.with_raw_response.create(
        model=model, max_tokens=4, messages=[{"role": "user", "content": content}]
    )


@pytest.mark.parametrize("prompt", ["hi", "extract the date from: Meeting moved to 3 May"])
def test_trivial_prompt_lands_on_tier_1(routed: Server, prompt: str) -> None:
    raw = ask(routed, prompt)
    assert raw.headers["x-appliance-tier"] == "local"
    assert raw.headers["x-appliance-route-reason"] == "score"
    assert float(raw.headers["x-appliance-route-score"]) < 0.5


def test_hard_prompt_lands_on_tier_3(routed: Server) -> None:
    raw = ask(routed, HARD)
    assert raw.headers["x-appliance-tier"] == "frontier"
    assert raw.headers["x-appliance-route-reason"] == "score"
    assert float(raw.headers["x-appliance-route-score"]) > 0.8


def test_pinned_model_keeps_its_tier_and_is_not_scored(routed: Server) -> None:
    raw = ask(routed, HARD, model="local-small")
    assert raw.headers["x-appliance-tier"] == "local"
    assert raw.headers["x-appliance-route-reason"] == "pinned"
    assert "x-appliance-route-score" not in raw.headers


def test_disabled_tier_is_skipped_upward(routed: Server) -> None:
    with routed.admin() as admin:
        assert (
            admin.patch("/admin/config", json={"tiers_enabled": {"local": False}}).status_code
            == 200
        )
        try:
            raw = ask(routed, "hi")
            assert raw.headers["x-appliance-tier"] == "cloud"
            assert raw.headers["x-appliance-route-reason"] == "tier-unavailable"
        finally:
            admin.patch("/admin/config", json={"tiers_enabled": {"local": True}})


def test_dead_tier_1_escalates_without_a_5xx(
    local_server: Server, server_factory: ServerFactory
) -> None:
    doomed = server_factory()
    tiers = [remote("edge", doomed), remote("cloud", local_server)]
    gateway = server_factory({"tiers": tiers, "cache": {"enabled": False}})
    doomed.kill()
    raw = ask(gateway, "hi")
    assert raw.http_response.status_code == 200
    assert raw.headers["x-appliance-tier"] == "cloud"
    assert raw.headers["x-appliance-route-reason"] == "escalated:error"


def test_busy_vllm_tier_1_spills_to_tier_2(
    local_server: Server, server_factory: ServerFactory, fault_upstream: str
) -> None:
    """The fault server poses as a vLLM server with 42 requests queued (its /metrics)."""
    tiers = [
        {"name": "gpu", "backend": "vllm", "base_url": fault_upstream, "model": "ok"},
        remote("cloud", local_server),
    ]
    gateway = server_factory({"tiers": tiers, "cache": {"enabled": False}})
    raw = ask(gateway, "hi")
    assert raw.headers["x-appliance-tier"] == "cloud"
    assert raw.headers["x-appliance-route-reason"] == "spill:queue"
    with gateway.admin() as admin:
        gpu = next(t for t in admin.get("/admin/stats").json()["tiers"] if t["name"] == "gpu")
    assert gpu["queue_depth"] == 42


def test_quality_target_sets_the_cut_points_and_previews_before_applying(
    routed: Server,
) -> None:
    with routed.admin() as admin:
        live = admin.get("/admin/config").json()
        in_force = admin.get("/admin/stats").json()["routing"]["cut_points"]
        assert live["quality_target"] == 0.95 and live["cut_points"] == pytest.approx(in_force)
        assert live["expected"]["cut_points"] == pytest.approx(in_force)
        curve = admin.get("/admin/routing/curve").json()
        assert curve[0][0] == 0.0 and curve[-1][0] == 1.0
        assert curve[-1][2] == pytest.approx(1.0)  # everything sent up: frontier quality

        loose = admin.get("/admin/routing/preview", params={"quality_target": 0.9}).json()
        strict = admin.get("/admin/routing/preview", params={"quality_target": 0.99}).json()
        # A stricter target sends more traffic up: lower cut points, higher cost and quality.
        assert strict["cut_points"][0] < loose["cut_points"][0]
        assert strict["cost_share"] > loose["cost_share"]
        assert strict["quality_low"] >= 0.99 - 0.01 and strict["quality_low"] > loose["quality_low"]
        # A preview changes nothing.
        assert admin.get("/admin/stats").json()["routing"]["cut_points"] == in_force

        bad = admin.get("/admin/routing/preview", params={"quality_target": 3})
        assert bad.status_code == 400 and "quality_target" in bad.json()["error"]["message"]
        short = admin.get("/admin/routing/preview", params={"cut_points": "0.5"})
        assert short.status_code == 400 and "cut points" in short.json()["error"]["message"]

        applied = admin.patch("/admin/config", json={"quality_target": 0.99}).json()
        assert applied["quality_target"] == 0.99
        now = admin.get("/admin/stats").json()["routing"]["cut_points"]
        assert now == pytest.approx(strict["cut_points"])
        # Explicit cut points replace the target; the target comes back when set again.
        pinned = admin.patch("/admin/config", json={"cut_points": [0.3, 0.7]}).json()
        assert pinned["quality_target"] is None and pinned["cut_points"] == [0.3, 0.7]
        back = admin.patch("/admin/config", json={"quality_target": 0.95}).json()
        assert back["quality_target"] == 0.95 and back["cut_points"] == pytest.approx(in_force)
        assert admin.get("/admin/stats").json()["routing"]["cut_points"] == pytest.approx(in_force)
