"""Image parts go only to tiers that read them, or the request is refused naming why."""

from __future__ import annotations

import msgspec
import pytest

from appliance.errors import InvalidRequest
from appliance.pipeline.parts import readers_only
from appliance.router.planner import Plan
from appliance.schemas import ChatCompletionRequest, ChatMessage
from tests.unit.pipeline.fakes import Rig

IMAGE = {"type": "image_url", "image_url": {"url": "data:image/png;base64,AAAA"}}


def with_vision(rig: Rig, *flags: bool) -> None:
    for tier, flag in zip(rig.tiers, flags, strict=True):
        tier.config = msgspec.structs.replace(tier.config, vision=flag)


def request(*parts: dict[str, object]) -> ChatCompletionRequest:
    return ChatCompletionRequest([ChatMessage("user", [{"type": "text", "text": "hi"}, *parts])])


def test_an_image_skips_tiers_that_cannot_read_it(rig: Rig) -> None:
    with_vision(rig, False, True, True)
    plan = readers_only(Plan(list(rig.tiers), "cheapest"), request(IMAGE))
    assert [t.name for t in plan.order] == ["cloud", "frontier"]
    assert plan.reason == "vision"


def test_text_keeps_the_plan(rig: Rig) -> None:
    with_vision(rig, False, False, False)
    plan = Plan(list(rig.tiers), "cheapest")
    assert readers_only(plan, request()) is plan


def test_no_reader_is_a_400_naming_the_content(rig: Rig) -> None:
    with_vision(rig, False, False, False)
    with pytest.raises(InvalidRequest) as caught:
        readers_only(Plan(list(rig.tiers), "cheapest"), request(IMAGE))
    assert "image_url" in caught.value.message and "vision = true" in caught.value.message


def test_vision_defaults_by_backend() -> None:
    from appliance.config import TierConfig

    assert not TierConfig(name="l", backend="llamacpp").reads_images
    assert TierConfig(name="c", backend="openai", base_url="http://x").reads_images
    assert not TierConfig(
        name="c", backend="openai", base_url="http://x", vision=False
    ).reads_images
