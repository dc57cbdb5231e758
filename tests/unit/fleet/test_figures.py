"""Each box publishes its ledger's figures; every box (and `appliance report --fleet`) reads
the fleet's totals and per-box figures back."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from appliance.__main__ import build_parser
from appliance.fleet.figures import read_boxes, render_fleet
from appliance.ledger.rows import LedgerRow
from tests.redis_server import RedisServer
from tests.unit.fleet.conftest import Box, BoxFactory
from tests.unit.fleet.test_replication import wait_for


def spend(box: Box, request_id: str, client: str, cost: float, baseline: float) -> None:
    row = LedgerRow(
        ts=time.time(),
        request_id=request_id,
        client=client,
        tier="cloud",
        model="m",
        prompt_tokens=10,
        completion_tokens=10,
        cost_usd=cost,
        baseline_usd=baseline,
        latency_ms=5.0,
        cache="miss",
    )
    box.ledger.record_sync([row])


def test_every_box_sees_the_fleets_totals_and_each_boxs_figures(make_box: BoxFactory) -> None:
    a, b = make_box("a"), make_box("b")
    spend(a, "r1", "alice", 0.25, 1.0)
    spend(a, "r2", "bob", 0.5, 1.0)
    spend(b, "r3", "alice", 0.125, 1.0)

    def complete() -> bool:
        boxes = b.fleet.stats().boxes
        return [x.month.requests for x in boxes] == [2, 1]

    wait_for(complete, 10.0)
    stats = b.fleet.stats()
    assert [x.box for x in stats.boxes] == ["a", "b"] and all(x.online for x in stats.boxes)
    assert stats.month.requests == stats.today.requests == 3
    assert round(stats.month.cost_usd, 6) == 0.875
    assert round(stats.month.savings_pct, 3) == round(100 * (3 - 0.875) / 3, 3)
    a_figures = stats.boxes[0]
    assert a_figures.by_client == {"alice": 0.25, "bob": 0.5}

    r = a.fleet.link.slow
    boxes = read_boxes(r, "appliance", time.strftime("%Y-%m"), 0.2, time.time())
    text = render_fleet(boxes, time.strftime("%Y-%m"), {"alice": "Alice"}, time.time())
    assert "fleet" in text and "$0.8750" in text
    assert "Alice" in text and "$0.3750" in text  # alice over both boxes


def test_a_box_that_stopped_publishing_still_counts_but_reads_offline(
    make_box: BoxFactory,
) -> None:
    a, b = make_box("a"), make_box("b")
    spend(a, "r1", "alice", 0.25, 1.0)
    wait_for(lambda: [x.month.requests for x in b.fleet.stats().boxes] == [1, 0], 10.0)
    a.close()
    time.sleep(0.8)  # more than three publish intervals of 0.2 s
    stats = b.fleet.stats()
    assert [(x.box, x.online) for x in stats.boxes] == [("a", False), ("b", True)]
    assert stats.month.requests == 1


def _report(*argv: str) -> int:
    args = build_parser().parse_args(["report", *argv])
    status: int = args.func(args)
    return status


def test_appliance_report_fleet_prints_every_box_and_the_total(
    make_box: BoxFactory,
    redis_server: RedisServer,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    a, b = make_box("a"), make_box("b")
    spend(a, "r1", "alice", 0.25, 1.0)
    spend(b, "r2", "alice", 0.5, 1.0)
    wait_for(lambda: [x.month.requests for x in a.fleet.stats().boxes] == [1, 1], 10.0)
    config = tmp_path / "appliance.toml"
    config.write_text(f'state_dir = "state"\n[fleet]\nredis_url = "{redis_server.url}"\n')
    assert _report("--fleet", "--config", str(config)) == 0
    out = capsys.readouterr().out
    lines = out.splitlines()
    assert [line.split()[0] for line in lines if line.startswith(("a ", "b ", "fleet"))] == [
        "a",
        "b",
        "fleet",
    ]
    assert "$0.7500" in next(line for line in lines if line.startswith("fleet"))


def test_appliance_report_fleet_needs_a_fleet(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = tmp_path / "appliance.toml"
    config.write_text('state_dir = "state"\n')
    assert _report("--fleet", "--config", str(config)) == 2
    assert "no [fleet] redis_url" in capsys.readouterr().err
