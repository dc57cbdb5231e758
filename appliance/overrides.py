"""Live-tunable settings: `PATCH /admin/config` changes, validated and persisted.

Overrides live in `<state_dir>/overrides.json`, layered over the config file at start-up, so
an operator's TUI edit survives a restart while the file stays theirs to edit by hand. The
file is written atomically (temp file + rename): a crash mid-write leaves the old one.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import msgspec

from appliance.admin.messages import ConfigPatch
from appliance.config import Config, ConfigError, validate

FILE = "overrides.json"


def apply_patch(config: Config, patch: ConfigPatch) -> Config:
    """A new, validated Config with the patch applied; raises ConfigError naming the key."""
    cache, router = config.cache, config.router
    if patch.cache_enabled is not msgspec.UNSET:
        cache = msgspec.structs.replace(cache, enabled=patch.cache_enabled)
    if patch.cache_threshold is not msgspec.UNSET:
        cache = msgspec.structs.replace(cache, threshold=patch.cache_threshold)
    if patch.cache_verifier_threshold is not msgspec.UNSET:
        cache = msgspec.structs.replace(cache, verifier_threshold=patch.cache_verifier_threshold)
    if patch.cache_candidate_threshold is not msgspec.UNSET:
        cache = msgspec.structs.replace(cache, candidate_threshold=patch.cache_candidate_threshold)
    if patch.quality_target is not msgspec.UNSET:
        router = msgspec.structs.replace(
            router, quality_target=patch.quality_target, cut_points=None, target_shares=None
        )
    if patch.cut_points is not msgspec.UNSET:
        router = msgspec.structs.replace(router, cut_points=patch.cut_points, target_shares=None)
    if patch.target_shares is not msgspec.UNSET:
        router = msgspec.structs.replace(router, target_shares=patch.target_shares, cut_points=None)
    tiers = config.tiers
    if patch.tiers_enabled is not msgspec.UNSET:
        names = {t.name for t in tiers}
        for name in patch.tiers_enabled:
            if name not in names:
                raise ConfigError(f"config: tiers_enabled.{name}: no tier named {name!r}")
        tiers = [
            msgspec.structs.replace(t, enabled=patch.tiers_enabled.get(t.name, t.enabled))
            for t in tiers
        ]
        if not any(t.enabled for t in tiers):
            raise ConfigError("config: tiers_enabled: at least one tier must stay enabled")
    updated = msgspec.structs.replace(config, cache=cache, router=router, tiers=tiers)
    validate(updated)
    return updated


_ROUTING_MODES = frozenset({"cut_points", "target_shares", "quality_target"})


def merge(saved: dict[str, Any], patch: ConfigPatch) -> dict[str, Any]:
    """Accumulate patches: later values win; tier switches merge per tier."""
    merged = dict(saved)
    for key, value in msgspec.to_builtins(patch).items():
        if key == "budgets":
            continue  # budgets live with the client keys, not in config
        if key == "tiers_enabled":
            merged[key] = {**merged.get(key, {}), **value}
        else:
            merged[key] = value
        if key in _ROUTING_MODES:  # the three ways to route replace each other
            for other in _ROUTING_MODES - {key}:
                merged.pop(other, None)
    return merged


def load(state_dir: Path) -> dict[str, Any]:
    try:
        data = json.loads((state_dir / FILE).read_text(encoding="utf-8"))
    except FileNotFoundError:
        return {}
    except (OSError, ValueError) as exc:
        raise ConfigError(f"config: {state_dir / FILE}: unreadable overrides: {exc}") from None
    if not isinstance(data, dict):
        raise ConfigError(f"config: {state_dir / FILE}: expected a JSON object")
    return data


def apply_saved(config: Config, saved: dict[str, Any]) -> Config:
    if not saved:
        return config
    try:
        patch = msgspec.convert(saved, ConfigPatch)
    except msgspec.ValidationError as exc:
        raise ConfigError(f"config: {FILE}: {exc}") from None
    return apply_patch(config, patch)


def save(state_dir: Path, data: dict[str, Any]) -> None:
    state_dir.mkdir(parents=True, exist_ok=True)
    tmp = state_dir / f".{FILE}.tmp"
    with open(tmp, "w", encoding="utf-8") as handle:
        json.dump(data, handle, indent=2, sort_keys=True)
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(tmp, state_dir / FILE)
