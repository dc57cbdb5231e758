"""Log reading: formats, gzip, field aliases, time order, malformed lines by number."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import pytest

from appliance.replay.reader import ReadError, read_log


def write_jsonl(path: Path, lines: list[object]) -> Path:
    path.write_text("\n".join(x if isinstance(x, str) else json.dumps(x) for x in lines) + "\n")
    return path


def test_wrapper_fields_are_read(tmp_path: Path) -> None:
    log = write_jsonl(
        tmp_path / "log.jsonl",
        [
            {
                "request": {
                    "model": "gpt-4o",
                    "messages": [{"role": "user", "content": "Hi there"}],
                },
                "response": {
                    "choices": [{"message": {"content": "Hello!"}, "finish_reason": "stop"}],
                    "usage": {
                        "prompt_tokens": 9,
                        "completion_tokens": 3,
                        "prompt_tokens_details": {"cached_tokens": 4},
                    },
                },
                "timestamp": "2026-01-01T00:00:10Z",
                "client": "app-1",
                "latency_ms": 812,
                "weak_correct": True,
                "strong_correct": "false",
            }
        ],
    )
    (record,) = read_log(log).records
    assert (record.model, record.client, record.line) == ("gpt-4o", "app-1", 1)
    assert (record.prompt_tokens, record.completion_tokens, record.cached_tokens) == (9, 3, 4)
    assert record.response_text == "Hello!"
    assert record.timestamp == 1767225610.0
    assert record.latency_ms == 812.0
    assert (record.weak_correct, record.strong_correct) == (True, False)


def test_bare_request_bodies_and_prompts_are_accepted(tmp_path: Path) -> None:
    log = write_jsonl(
        tmp_path / "log.jsonl",
        [
            {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "One"}]},
            {"prompt": "Two", "weak_correct": False, "strong_correct": True},
            {"custom_id": "x", "body": {"messages": [{"role": "user", "content": "Three"}]}},
        ],
    )
    records = read_log(log).records
    assert [r.request.messages[-1].text() for r in records] == ["One", "Two", "Three"]
    assert records[0].model == "gpt-4o-mini" and records[1].model == ""


def test_malformed_lines_are_reported_by_number_and_not_fatal(tmp_path: Path) -> None:
    log = write_jsonl(
        tmp_path / "log.jsonl",
        [
            {"prompt": "fine"},
            "{not json",
            {"messages": [{"role": "system", "content": "no user turn"}]},
            {"prompt": "bad time", "timestamp": "yesterday"},
            {"messages": [{"role": "wizard", "content": "x"}]},
            {"prompt": "also fine"},
        ],
    )
    contents = read_log(log)
    assert len(contents.records) == 2
    assert [m.line for m in contents.malformed] == [2, 3, 4, 5]
    reasons = [m.reason for m in contents.malformed]
    assert "not JSON" in reasons[0] and "no user message" in reasons[1]
    assert "timestamp" in reasons[2] and "not a chat request" in reasons[3]


def test_gzip_is_detected_by_content_not_name(tmp_path: Path) -> None:
    path = tmp_path / "traffic.log"
    with gzip.open(path, "wt") as f:
        f.write(json.dumps({"prompt": "zipped"}) + "\n")
    contents = read_log(path)
    assert contents.format == "openai-jsonl (gzip)"
    assert contents.records[0].request.messages[0].text() == "zipped"


def test_csv_with_prompt_column(tmp_path: Path) -> None:
    path = tmp_path / "log.csv.gz"
    with gzip.open(path, "wt", newline="") as f:
        f.write(
            "Prompt,model,timestamp,completion_tokens,system\n"
            '"What is 2+2?",gpt-4o,1700000000,5,Be brief.\n'
            ",gpt-4o,1700000001,5,\n"
            '"multi\nline prompt",gpt-4o,1700000002,x,\n'
            '"ok",,1700000003,,\n'
        )
    contents = read_log(path)
    assert contents.format == "csv (gzip)"
    assert [r.line for r in contents.records] == [2, 6]
    first = contents.records[0]
    assert [m.role for m in first.request.messages] == ["system", "user"]
    assert (first.model, first.completion_tokens, first.timestamp) == ("gpt-4o", 5, 1700000000)
    assert [(m.line, m.reason) for m in contents.malformed] == [
        (3, "empty prompt"),
        (4, "completion_tokens: 'x' is not a number"),
    ]


def test_csv_without_prompt_column_is_an_error(tmp_path: Path) -> None:
    path = tmp_path / "log.csv"
    path.write_text("question,model\nhi,gpt-4o\n")
    with pytest.raises(ReadError, match="no `prompt` column"):
        read_log(path)


def test_records_are_in_stable_time_order(tmp_path: Path) -> None:
    log = write_jsonl(
        tmp_path / "log.jsonl",
        [
            {"prompt": "b", "timestamp": 20},
            {"prompt": "b-next (no time: stays after b)"},
            {"prompt": "a", "timestamp": 10},
            {"prompt": "c1", "timestamp": 30},
            {"prompt": "c2", "timestamp": 30},
        ],
    )
    texts = [r.request.messages[0].text()[:6] for r in read_log(log).records]
    assert texts == ["a", "b", "b-next", "c1", "c2"]
