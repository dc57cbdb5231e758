"""`appliance replay LOG`: the audit from the shell.

It owns the arguments, loading the models and the config, the progress bar and choosing the
output (table or `--json`). It must not compute anything itself: reading is `reader`, the run
is `simulate`/`sweep`/`execute`, wording is `report`. Heavy imports (onnxruntime, the encoder,
llama.cpp) happen inside the handler so `appliance --help` stays fast.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

import msgspec

from appliance.config import Config, TierConfig, load_config, validate
from appliance.replay.reader import ReadError, read_log
from appliance.replay.simulate import ReplayError
from appliance.replay.sweep import (
    DEFAULT_SHARES_DOWN,
    DEFAULT_THRESHOLDS,
    DEFAULT_VERIFIER_BARS,
)
from appliance.replay.vectors import VectorMemo, default_directory

if TYPE_CHECKING:
    from appliance.embedding.encoder import Encoder

_OPENAI = "https://api.openai.com/v1"


def add_commands(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    replay = subparsers.add_parser(
        "replay", help="audit a traffic log: cost before/after, cache hits, tier mix"
    )
    replay.add_argument(
        "log", type=Path, help="JSONL of chat requests or CSV with a prompt column; gzip accepted"
    )
    replay.add_argument("--format", default="auto", choices=("auto", "openai-jsonl", "csv"))
    replay.add_argument(
        "--config", help="TOML config with your tiers (default: $APPLIANCE_CONFIG or built-in)"
    )
    replay.add_argument(
        "--tiers-preset",
        choices=("cloud3",),
        default=None,
        help="cloud3: local llama.cpp, gpt-4o-mini, gpt-4o (replaces the config's tiers)",
    )
    replay.add_argument(
        "--baseline-model",
        default=None,
        metavar="M",
        help="price every request's 'before' on M (default: the model each log "
        "line names, else the config's baseline tier)",
    )
    replay.add_argument(
        "--days",
        type=float,
        default=None,
        help="how many days the log covers (default: from its timestamps)",
    )
    replay.add_argument(
        "--sweep", action="store_true", help="add a table over cache thresholds and cut points"
    )
    replay.add_argument(
        "--thresholds",
        default=None,
        metavar="T,T,...",
        help=(
            "sweep the cache's bar: the verifier's (default "
            f"{_csv(DEFAULT_VERIFIER_BARS)}), or the cosine without it "
            f"(default {_csv(DEFAULT_THRESHOLDS)})"
        ),
    )
    replay.add_argument(
        "--shares-down",
        default=None,
        metavar="S,S,...",
        help=f"sweep shares below the top tier (default {_csv(DEFAULT_SHARES_DOWN)})",
    )
    replay.add_argument(
        "--execute",
        action="store_true",
        help="run a sample of the tier-1 share on the local model for real",
    )
    replay.add_argument(
        "--execute-limit",
        type=int,
        default=20,
        metavar="N",
        help="how many tier-1 requests to run (default 20)",
    )
    replay.add_argument(
        "--execute-max-tokens",
        type=int,
        default=256,
        metavar="N",
        help="answer length cap for --execute (default 256)",
    )
    replay.add_argument(
        "--embed-workers",
        type=int,
        default=2,
        metavar="N",
        help="encoder sessions embedding in parallel, one thread each (default 2, at most "
        "the CPU count)",
    )
    replay.add_argument(
        "--vector-cache",
        type=Path,
        default=None,
        metavar="DIR",
        help="where the vectors of replayed texts are kept, so the next replay of the same "
        "log does not embed them again (default $XDG_CACHE_HOME/appliance/replay-vectors)",
    )
    replay.add_argument(
        "--no-vector-cache",
        action="store_true",
        help="embed every text and keep no vectors on disk",
    )
    replay.add_argument("--router-dir", type=Path, default=None, help="router model directory")
    replay.add_argument("--json", action="store_true", help="machine-readable output")
    replay.add_argument("--no-progress", action="store_true")
    replay.set_defaults(func=_replay)


def _csv(values: tuple[float, ...]) -> str:
    return ",".join(f"{v:g}" for v in values)


def _floats(text: str | None, default: tuple[float, ...], name: str) -> tuple[float, ...]:
    if text is None:
        return default
    try:
        return tuple(float(v) for v in text.split(","))
    except ValueError:
        raise ReplayError(f"{name}: expected comma-separated numbers, got {text!r}") from None


def preset_tiers(name: str) -> list[TierConfig]:
    """The three-tier setup of the case study (docs/replay.md shows it as a config file)."""
    if name != "cloud3":
        raise ReplayError(f"--tiers-preset: unknown preset {name!r}")
    return [
        TierConfig(name="local", backend="llamacpp", model="smollm2-135m-instruct"),
        TierConfig(
            name="gpt-4o-mini",
            backend="openai",
            model="gpt-4o-mini",
            base_url=_OPENAI,
            api_key_env="OPENAI_API_KEY",
        ),
        TierConfig(
            name="gpt-4o",
            backend="openai",
            model="gpt-4o",
            base_url=_OPENAI,
            api_key_env="OPENAI_API_KEY",
        ),
    ]


def _config(args: argparse.Namespace) -> Config:
    config = load_config(args.config)
    if args.tiers_preset:
        config = msgspec.structs.replace(config, tiers=preset_tiers(args.tiers_preset))
        validate(config)
    return config


class _Bar:
    """A one-line progress bar on stderr, only when stderr is a terminal."""

    def __init__(self, enabled: bool) -> None:
        self.enabled = enabled and sys.stderr.isatty()
        self._phase = ""

    def __call__(self, phase: str, done: int, total: int) -> None:
        if not self.enabled:
            return
        width = 30
        filled = width * done // max(total, 1)
        sys.stderr.write(
            f"\r{phase:<10} [{'#' * filled}{'.' * (width - filled)}] {done:,}/{total:,}"
        )
        if done >= total:
            sys.stderr.write("\n")
        sys.stderr.flush()


def _replay(args: argparse.Namespace) -> int:
    try:
        return _run(args)
    except (ReadError, ReplayError) as exc:
        print(exc, file=sys.stderr)
        return 2


def _run(args: argparse.Namespace) -> int:
    from appliance.embedding.encoder import Encoder
    from appliance.replay import report, simulate, sweep

    config = _config(args)
    bars = DEFAULT_VERIFIER_BARS if config.cache.verifier else DEFAULT_THRESHOLDS
    thresholds = _floats(args.thresholds, bars, "--thresholds")
    shares_down = _floats(args.shares_down, DEFAULT_SHARES_DOWN, "--shares-down")
    contents = read_log(args.log, args.format)
    if not contents.records:
        raise ReplayError(
            f"replay: {args.log}: no readable requests "
            f"({len(contents.malformed)} malformed line(s))"
        )
    bar = _Bar(not args.no_progress and not args.json)
    scorer = _load_router(args.router_dir) if len(config.tiers) > 1 else None
    workers = max(1, min(args.embed_workers, os.cpu_count() or 1))
    encoders = [Encoder(threads=1) for _ in range(workers)]
    memo = _vector_memo(args, encoders[0])
    try:
        sim = simulate.build(
            contents.records, config, encoders, scorer, args.baseline_model, bar, memo
        )
    finally:
        if memo is not None:
            memo.close()
    summary = simulate.simulate(sim, bar, args.days)
    rows = sweep.sweep(sim, thresholds, shares_down, args.days, bar) if args.sweep else None
    executed: dict[str, Any] | None = None
    if args.execute:
        from appliance.replay.execute import execute_tier1

        executed = execute_tier1(
            sim, summary.assignments, args.execute_limit, args.execute_max_tokens, bar
        )
    source, fmt = str(args.log), contents.format
    if args.json:
        print(
            json.dumps(
                report.to_json(
                    summary,
                    source=source,
                    fmt=fmt,
                    malformed=contents.malformed,
                    sweep=rows,
                    execute=executed,
                ),
                indent=2,
            )
        )
        return 0
    print(report.render(summary, source=source, fmt=fmt, malformed=contents.malformed))
    if rows is not None:
        print(report.render_sweep(rows))
    if executed is not None:
        from appliance.replay.execute import render_execute

        print(render_execute(executed))
    return 0


def _vector_memo(args: argparse.Namespace, encoder: Encoder) -> VectorMemo | None:
    if args.no_vector_cache:
        return None
    directory = args.vector_cache or default_directory()
    try:
        return VectorMemo(directory, encoder.identity, encoder.dim)
    except OSError as exc:
        # A read-only home must not stop an audit: it only runs slower.
        print(
            f"replay: vector cache {directory} unusable ({exc}); embedding every text",
            file=sys.stderr,
        )
        return None


def _load_router(directory: Path | None) -> Any:
    from appliance.router.classifier import DEFAULT_MODEL_DIR, RouterClassifier

    where = directory or DEFAULT_MODEL_DIR
    if not (where / "router.onnx").is_file():
        raise ReplayError(
            f"replay: no router model at {where / 'router.onnx'}; train it with "
            "models/router/train.py, or replay with a one-tier config "
            "(cache savings only)"
        )
    return RouterClassifier.load(directory)
