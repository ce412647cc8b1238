"""The bench's latency summary: from publication of an alert's latest trigger, or from stream time, to its sighting."""

from __future__ import annotations

from agents.rules.exit_without_clearance import RULE_ID as EXIT_RULE
from streams.tools.bench import PublishedLog, summarise_latency
from streams.tools.detection_quality import WAITING_RULES


def _alert(rule_id: str, *triggers: str) -> dict:
    return {"rule_id": rule_id, "trigger_event_ids": list(triggers)}


def _log(*events: tuple[str, int, float, int]) -> PublishedLog:
    """Events as (event id, event time, published at, input partition)."""
    log = PublishedLog()
    for event_id, event_time, published_at, partition in events:
        log.note(event_id, event_time, published_at)("declarations", partition)
    return log


def test_latency_counts_from_the_latest_trigger_per_rule():
    log = _log(("a", 0, 10.0, 0), ("b", 0, 10.5, 0), ("c", 0, 20.0, 0), ("d", 0, 30.0, 0))
    seen = [(11.0, _alert("SEAL_BROKEN", "a", "b")),         # 0.5 s after b
            (21.0, _alert("MANIFEST_MISMATCH", "c")),      # 1 s
            (22.0, _alert("SEAL_BROKEN", "c", "gone")),    # 2 s; an unpublished trigger is ignored
            (99.0, _alert("MANIFEST_MISMATCH", "not-live"))]  # no live trigger: not timed
    summary = summarise_latency(seen, log, skew_s=5.0)
    assert summary["latency_alerts"] == 3
    assert summary["latency_p50_ms"] == 1000.0
    assert summary["latency_p99_ms"] == 2000.0
    assert summary["latency_by_rule"] == {
        "MANIFEST_MISMATCH": {"alerts": 1, "p50_ms": 1000.0, "p99_ms": 1000.0},
        "SEAL_BROKEN": {"alerts": 2, "p50_ms": 500.0, "p99_ms": 2000.0},
    }


def test_a_rule_judged_on_stream_time_is_timed_from_when_every_partition_passed_its_trigger():
    # The split's last parcel (event time 100) is published at 10.0 on partition 0; partition 1
    # is sent nothing at or after 100 until 11.5, so stream time allows the decision at 11.5.
    log = _log(("p", 100, 10.0, 0), ("x", 90, 10.2, 1), ("y", 100, 11.5, 1), ("z", 130, 11.2, 0),
               ("late", 200, 12.0, 0))
    seen = [(11.6, _alert("SPLIT_SHIPMENT", "p")),
            (13.0, _alert("SPLIT_SHIPMENT", "late"))]  # partition 1 never passes 200: not timed
    summary = summarise_latency(seen, log, skew_s=5.0)
    split = summary["latency_by_rule"]["SPLIT_SHIPMENT"]
    assert split["alerts"] == 1 and round(split["p50_ms"]) == 100
    assert round(split["from_trigger_p50_ms"]) == 1000 and round(split["from_trigger_p99_ms"]) == 1600
    assert summary["latency_alerts"] == 1


def test_exit_decisions_are_reported_less_the_skew_and_waiting_rules_left_out():
    log = _log(("a", 0, 10.0, 0))
    waiting = next(rule for rule in WAITING_RULES if rule != EXIT_RULE)
    seen = [(17.5, _alert(EXIT_RULE, "a")), (500.0, _alert(waiting, "a"))]
    summary = summarise_latency(seen, log, skew_s=5.0)
    assert summary["exit_decisions"] == 1
    assert summary["exit_decision_delay_p50_ms"] == 2500.0
    assert summary["latency_alerts"] == 0
    assert summary["latency_by_rule"] == {}
