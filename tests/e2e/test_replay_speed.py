"""The same file replayed at full speed and at a slow rate raises the same alerts and gets the same lanes.

Windows, timers and lane decisions run on event time (stream time), never
on arrival, so the rate at which events arrive must not change what is
found, nor which declarations an office inspects.

One thing does depend on arrival (README, "Selectivity lanes"): a
CRITICAL alert that comes after its declaration's lane was decided
restates the lane RED only while the office remembers the decision, an
hour of the office's stream time. Live, the alert comes seconds after
the evidence; a replay, even at 80 events a second, runs hours of event
time a second, and stream time can pass the hour before the alert has
been through scoring. So the lanes of the few declarations a CRITICAL
alert names are left out of the comparison.
"""

import subprocess
import sys
from typing import Any

import pytest

from agents.risk.model import train
from agents.rules.config import load_rule_book
from tests.builders import HOUR, T0, inspected
from tests.conftest import REPO, newest_versions
from tests.oracle import expected_alerts
from tests.scenarios import build

pytestmark = pytest.mark.e2e

SLOW_RATE = 80  # events per second: the file takes seconds, many router steps and progress reports
DAY_MS = 86_400_000
# Tight enough that the ranking, the demotions and the control sample all decide lanes.
CAPACITY = {"VNSGN01": (3, 6)}
CONTROL_RATE = 0.1


def replay(deployed, path, *options):
    env = {"PATH": "", **deployed.settings.as_env()}
    result = subprocess.run([sys.executable, "-m", "streams", "replay", str(path), *options], cwd=REPO, env=env,
                            capture_output=True, text=True, timeout=180)
    assert result.returncode == 0, result.stderr


def last_lanes(deployed, wanted: set[str]) -> dict[str, dict[str, Any]]:
    """Each declaration's last selectivity record, once all of ``wanted`` have one (and a few seconds more)."""
    records = deployed.read_topic("selectivity", "selectivity",
                                  until=lambda seen: wanted <= {r["declaration_id"] for r in seen},
                                  timeout_s=90, settle_s=3)
    return {record["declaration_id"]: record for record in records}


def decision(lane: dict[str, Any]) -> tuple[Any, ...]:
    """What a lane says. A lane forced RED after its decision has no reasons (its alerts say why), so
    the reasons count only where no alert forced the lane."""
    return (lane["lane"], lane["score"], lane["control_sample"], lane["inspected"], sorted(lane["alert_ids"]),
            lane["model_version"], lane["office_code"], None if lane["alert_ids"] else lane["reasons"])


def test_full_speed_and_slow_replays_raise_identical_alert_ids_and_lanes(deployment, tmp_path):
    scenario = build(seed=5, clean_shipments=60, clean_parcels=80)
    path = scenario.write_jsonl(tmp_path / "traffic.jsonl")
    expected = set(expected_alerts(scenario.events, load_rule_book(), flush_after_ms=3_600_000))
    model_file = tmp_path / "model.lgb"
    model = train(inspected(600, T0 - 30 * DAY_MS, seed=1), trained_at="replay-speed")
    model.save(model_file)
    lodged = [record for kind, record in scenario.events if kind == "declaration" and record["action"] == "LODGED"]
    # Stream time passes these in both runs: the last events come hours after them.
    end = max(record["event_time"] for _kind, record in scenario.events)
    decidable = {record["declaration_id"] for record in lodged if record["event_time"] <= end - 2 * HOUR}

    def alerts(deployed):
        seen = deployed.read_topic("alerts", "alert", until=lambda s: set(newest_versions(s)) >= expected,
                                   timeout_s=90, settle_s=3)
        return newest_versions(seen)

    # The backlog case: the file is published, then a worker starts on it. (A full-speed
    # burst into a worker whose partitions are all idle can be judged against a
    # partition reported idle a moment before its data arrived: see the README.)
    options = {"model_file": model_file, "lane_capacity": CAPACITY, "control_sample_rate": CONTROL_RATE}
    fast, slow = deployment(**options), deployment(**options)
    replay(fast, path)
    fast.start_worker()
    slow.start_worker()
    replay(slow, path, "--rate", str(SLOW_RATE))
    fast_alerts, slow_alerts = alerts(fast), alerts(slow)
    assert set(fast_alerts) == expected, fast.workers[0].tail()
    assert set(slow_alerts) == set(fast_alerts), slow.workers[0].tail()

    critical = {declaration_id for alert in slow_alerts.values() if alert["severity"] == "CRITICAL"
                for declaration_id in alert["declaration_ids"]}
    fast_lanes, slow_lanes = last_lanes(fast, decidable), last_lanes(slow, decidable)
    unnamed = decidable - critical
    assert len(unnamed) >= len(decidable) - 3, sorted(critical)
    assert {d: decision(fast_lanes[d]) for d in unnamed} == {d: decision(slow_lanes[d]) for d in unnamed}
    # Every kind of decision was made, so the comparison covers each.
    made = {(slow_lanes[d]["lane"], slow_lanes[d]["control_sample"]) for d in unnamed}
    assert {("RED", False), ("YELLOW", False), ("GREEN", False), ("RED", True)} <= made, made
    # Declarations decided in both runs beyond those waited for agree too.
    both = (fast_lanes.keys() & slow_lanes.keys()) - critical
    assert {d: decision(fast_lanes[d]) for d in both} == {d: decision(slow_lanes[d]) for d in both}
