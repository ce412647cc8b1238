"""The bench's latency summary: from publication of an alert's latest trigger to its sighting."""

from __future__ import annotations

from agents.rules.exit_without_clearance import RULE_ID as EXIT_RULE
from streams.tools.bench import summarise_latency
from streams.tools.detection_quality import WAITING_RULES


def _alert(rule_id: str, *triggers: str) -> dict:
    return {"rule_id": rule_id, "trigger_event_ids": list(triggers)}


def test_latency_counts_from_the_latest_trigger_per_rule():
    published = {"a": 10.0, "b": 10.5, "c": 20.0, "d": 30.0}
    seen = [(11.0, _alert("SPLIT_SHIPMENT", "a", "b")),    # 0.5 s after b
            (21.0, _alert("MANIFEST_MISMATCH", "c")),      # 1 s
            (22.0, _alert("SPLIT_SHIPMENT", "c", "gone")),  # 2 s; an unpublished trigger is ignored
            (99.0, _alert("SEAL_BROKEN", "not-live"))]     # no live trigger: not timed
    summary = summarise_latency(seen, published, skew_s=5.0)
    assert summary["latency_alerts"] == 3
    assert summary["latency_p50_ms"] == 1000.0
    assert summary["latency_p99_ms"] == 2000.0
    assert summary["latency_by_rule"] == {
        "MANIFEST_MISMATCH": {"alerts": 1, "p50_ms": 1000.0, "p99_ms": 1000.0},
        "SPLIT_SHIPMENT": {"alerts": 2, "p50_ms": 500.0, "p99_ms": 2000.0},
    }


def test_exit_decisions_are_reported_less_the_skew_and_waiting_rules_left_out():
    published = {"a": 10.0}
    waiting = next(rule for rule in WAITING_RULES if rule != EXIT_RULE)
    seen = [(17.5, _alert(EXIT_RULE, "a")), (500.0, _alert(waiting, "a"))]
    summary = summarise_latency(seen, published, skew_s=5.0)
    assert summary["exit_decisions"] == 1
    assert summary["exit_decision_delay_p50_ms"] == 2500.0
    assert summary["latency_alerts"] == 0
    assert summary["latency_by_rule"] == {}
