"""`appliance replay` end to end through the main parser, each log format with known answers."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import pytest

from appliance.__main__ import main


def config_file(tmp_path: Path, extra: str = "") -> str:
    path = tmp_path / "appliance.toml"
    path.write_text(f'state_dir = "{tmp_path / "state"}"\n{extra}')
    return str(path)


def replay_json(capsys: pytest.CaptureFixture[str], *argv: str) -> dict[str, object]:
    assert main(["replay", *argv, "--json", "--no-progress"]) == 0
    result: dict[str, object] = json.loads(capsys.readouterr().out)
    return result


def line(text: str, ts: float, **extra: object) -> str:
    return json.dumps(
        {
            "request": {"model": "gpt-4o", "messages": [{"role": "user", "content": text}]},
            "usage": {"prompt_tokens": 100, "completion_tokens": 50},
            "timestamp": ts,
            **extra,
        }
    )


def test_jsonl_gz_replay_reports_hits_costs_and_malformed_lines(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    log = tmp_path / "traffic.jsonl.gz"
    with gzip.open(log, "wt") as f:
        f.write(
            "\n".join(
                [
                    line("What is the capital of France?", 0),
                    "{oops",
                    line("What is the capital of France?", 60),
                ]
            )
            + "\n"
        )
    out = replay_json(capsys, str(log), "--config", config_file(tmp_path))
    assert out["format"] == "openai-jsonl (gzip)"
    assert (out["requests"], out["hits_exact"]) == (2, 1)
    assert out["malformed"] == [
        {
            "line": 2,
            "reason": "not JSON (Expecting property name enclosed in double quotes, column 2)",
        }
    ]
    one_call = (100 * 2.50 + 50 * 10.00) / 1e6
    assert out["cost_before_usd"] == pytest.approx(2 * one_call)
    assert out["cost_after_usd"] == pytest.approx(one_call)
    assert out["savings_pct"] == pytest.approx(50.0)


def test_csv_replay_with_a_baseline_model(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    log = tmp_path / "prompts.csv"
    log.write_text(
        "prompt,prompt_tokens,completion_tokens\n"
        "How do I reset my password?,1000,1000\n"
        "How do I reset my password?,1000,1000\n"
    )
    out = replay_json(
        capsys, str(log), "--config", config_file(tmp_path), "--baseline-model", "gpt-4o-mini"
    )
    assert out["format"] == "csv" and out["hits"] == 1
    assert out["cost_before_usd"] == pytest.approx(2 * (1000 * 0.15 + 1000 * 0.60) / 1e6)


def test_cloud3_table_routes_a_trivial_prompt_to_the_local_tier(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from appliance.router.classifier import DEFAULT_MODEL_DIR

    if not (DEFAULT_MODEL_DIR / "router.onnx").is_file():
        pytest.skip("the router model is not trained yet")
    log = tmp_path / "t.jsonl"
    log.write_text(line("What's the capital of Australia?", 0) + "\n")
    code = main(
        [
            "replay",
            str(log),
            "--config",
            config_file(tmp_path),
            "--tiers-preset",
            "cloud3",
            "--sweep",
            "--thresholds",
            "0.94",
            "--shares-down",
            "0.9",
            "--no-progress",
        ]
    )
    text = capsys.readouterr().out
    assert code == 0
    assert "Cost before" in text and "Sweep:" in text
    local = next(x for x in text.splitlines() if x.strip().startswith("local"))
    assert local.split()[1] == "1"


def test_missing_log_and_missing_router_exit_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["replay", str(tmp_path / "nope.jsonl"), "--config", config_file(tmp_path)]) == 2
    assert "no such file" in capsys.readouterr().err
    log = tmp_path / "t.jsonl"
    log.write_text(line("Hi", 0) + "\n")
    assert (
        main(
            [
                "replay",
                str(log),
                "--config",
                config_file(tmp_path),
                "--tiers-preset",
                "cloud3",
                "--router-dir",
                str(tmp_path),
            ]
        )
        == 2
    )
    assert "no router model" in capsys.readouterr().err


@pytest.mark.slow
def test_execute_runs_the_tier_1_share_on_the_local_model(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from appliance.router.classifier import DEFAULT_MODEL_DIR

    if not (DEFAULT_MODEL_DIR / "router.onnx").is_file():
        pytest.skip("the router model is not trained yet")
    pytest.importorskip("llama_cpp")
    log = tmp_path / "t.jsonl"
    log.write_text(line("What's the capital of Australia?", 0) + "\n")
    out = replay_json(
        capsys,
        str(log),
        "--config",
        config_file(tmp_path),
        "--tiers-preset",
        "cloud3",
        "--execute",
        "--execute-limit",
        "1",
        "--execute-max-tokens",
        "4",
    )
    executed = out["execute"]
    assert isinstance(executed, dict)
    assert (executed["tier"], executed["executed"], executed["errors"]) == ("local", 1, [])
    assert 1 <= executed["completion_tokens"]["max"] <= 4


def test_a_second_replay_of_a_log_embeds_nothing_again(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    log = tmp_path / "traffic.jsonl"
    log.write_text(
        "\n".join(line(f"What is the capital of country number {i}?", i) for i in range(5)) + "\n"
    )
    vectors = tmp_path / "vectors"
    argv = (str(log), "--config", config_file(tmp_path), "--vector-cache", str(vectors))
    first = replay_json(capsys, *argv)
    second = replay_json(capsys, *argv)
    assert (first["distinct_texts"], first["remembered_texts"]) == (5, 0)
    assert (second["distinct_texts"], second["remembered_texts"]) == (5, 5)
    assert second["savings_pct"] == first["savings_pct"]
    off = replay_json(capsys, *argv, "--no-vector-cache")
    assert off["remembered_texts"] == 0
