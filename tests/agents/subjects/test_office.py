"""The office subject: lanes once stream time has passed, in event-time order, each declaration once."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import orjson

from agents.risk.lanes import Capacity, LanePolicy, OfficeLanes
from agents.rules.config import load_rule_book
from agents.rules.findings import Finding
from agents.subjects import office
from agents.subjects.common import Context
from tests.builders import MINUTE, T0

RULES = load_rule_book()
POLICY = LanePolicy({"VNSGN01": Capacity(2, 3)}, Capacity(1, 1), control_rate=0.0)


def lodged(n: int, score: float) -> tuple[str, dict[str, Any]]:
    return ("lodged", {"declaration_id": f"D{n}", "event_id": f"e{n}", "event_time": T0 + n * MINUTE,
                       "score": score, "model_version": "m1", "features": []})


def context(watermark: int | None) -> Context:
    return Context(RULES, watermark, 0, None, None, lane_policy=POLICY)


def stored(state: office.OfficeState, segments: dict[str, Any] | None = None) -> office.OfficeState:
    """The state as a worker reads it back: its head, and ``segments`` (else its own) as stored."""
    written = state.segments if segments is None else segments
    head = orjson.loads(orjson.dumps(office.head(state)))
    return office.load(head, lambda segment_id: orjson.loads(orjson.dumps(written[segment_id]))
                       if segment_id in written else None)


def remembered(state: office.OfficeState) -> tuple[Any, ...]:
    """What a state knows (not which segments are dirty, nor its epoch)."""
    return (state.office_code, state.lanes, state.critical, state.raised, state.segments, state.segment_of,
            state.pending)


def test_declarations_wait_for_stream_time_and_are_then_decided_in_event_time_order():
    events = [lodged(n, score=n / 10) for n in (3, 1, 2, 0)]
    state, outcome = office.process(None, "VNSGN01", events, context(None))
    assert outcome.lanes == [] and outcome.next_due == T0  # not before stream time; a wake-up asked for
    state, outcome = office.process(state, "VNSGN01", [], context(T0 + 2 * MINUTE))
    assert [lane["declaration_id"] for lane in outcome.lanes] == ["D0", "D1", "D2"]
    assert outcome.next_due == T0 + 3 * MINUTE
    state, outcome = office.process(state, "VNSGN01", [lodged(1, 0.1), lodged(3, 0.3)], context(T0 + 9 * MINUTE))
    assert [lane["declaration_id"] for lane in outcome.lanes] == ["D3"]  # D1 again is a redelivery

    lanes = OfficeLanes()
    expected = [lanes.decide(f"D{n}", T0 + n * MINUTE, n / 10, POLICY.capacity_of("VNSGN01"), 0.0).lane
                for n in range(4)]
    decided = office.process(None, "VNSGN01", events, context(T0 + 9 * MINUTE))[1].lanes
    assert [lane["lane"] for lane in decided] == expected


def test_an_office_state_survives_its_stored_form():
    state, _ = office.process(None, "VNSGN01", [lodged(n, n / 10) for n in range(5)], context(T0 + 2 * MINUTE))
    assert state.pending and any("lane" in entry for segment in state.segments.values() for entry in segment.values())
    assert remembered(stored(state)) == remembered(state)


def test_a_crash_between_the_segments_and_the_head_decides_the_next_lanes_as_without_it():
    first = [lodged(n, score=(n * 7 % 10) / 10) for n in range(10)]
    later = [lodged(n, score=(n * 3 % 10) / 10) for n in range(50, 90)]
    state, _ = office.process(None, "VNSGN01", first, context(T0 + 4 * MINUTE))
    head_written = stored(state)  # the last head the worker wrote
    state, _ = office.process(state, "VNSGN01", [], context(T0 + 9 * MINUTE))
    # The segments of the next decisions were written, the head that counts them was not.
    crashed = stored(head_written, segments=state.segments)
    _, expected = office.process(state, "VNSGN01", later, context(T0 + 89 * MINUTE))
    _, after_crash = office.process(crashed, "VNSGN01", later, context(T0 + 89 * MINUTE))
    assert after_crash.lanes == expected.lanes
    assert {lane["lane"] for lane in expected.lanes} == {"RED", "YELLOW", "GREEN"}
    # Without counting the lanes decided after the head, the capacity would look less used.
    _, uncounted = office.process(head_written, "VNSGN01", later, context(T0 + 89 * MINUTE))
    assert [lane["lane"] for lane in uncounted.lanes] != [lane["lane"] for lane in expected.lanes]


def critical(alert_id: str, *declaration_ids: str, minute: int = 0) -> tuple[str, dict[str, Any]]:
    return (office.CRITICAL_ALERT, {"alert_id": alert_id, "declaration_ids": list(declaration_ids),
                                    "event_time": T0 + minute * MINUTE})


def last_records(*outcomes: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """The last record per declaration, as a compacted topic keeps it (reasons aside: see the module)."""
    return {record["declaration_id"]: {k: v for k, v in record.items() if k not in ("reasons", office.FEATURES_KEY,
                                                                                    office.RESTATED_KEY)}
            for records in outcomes for record in records}


def test_a_critical_alert_forces_red_beyond_capacity_whether_it_comes_before_or_after_the_decision():
    events = [lodged(n, score=n / 10) for n in range(6)]
    plain = office.process(None, "VNSGN01", events, context(T0 + 9 * MINUTE))[1].lanes
    chosen = next(lane["declaration_id"] for lane in plain if lane["lane"] != "RED")

    # Before: the alert waits for its declaration, which is decided RED with it.
    state, outcome = office.process(None, "VNSGN01", [critical("A1", chosen)], context(None))
    assert outcome.lanes == []
    state, outcome = office.process(state, "VNSGN01", events, context(T0 + 9 * MINUTE))
    before = last_records(outcome.lanes)
    assert before[chosen]["lane"] == "RED" and before[chosen]["inspected"] and before[chosen]["alert_ids"] == ["A1"]
    # The risk lanes of the others are unchanged: a forced lane takes no capacity.
    assert {d: r for d, r in before.items() if d != chosen} == \
        {d: r for d, r in last_records(plain).items() if d != chosen}
    assert sum(r["lane"] == "RED" for r in before.values()) == POLICY.capacity_of("VNSGN01").red + 1

    # After: the decided lane is restated RED under the same key; a redelivered alert changes nothing.
    state, decided = office.process(None, "VNSGN01", events, context(T0 + 9 * MINUTE))
    state, restated = office.process(state, "VNSGN01", [critical("A1", chosen)], context(T0 + 9 * MINUTE))
    assert [r["declaration_id"] for r in restated.lanes] == [chosen] and restated.lanes[0][office.RESTATED_KEY]
    assert last_records(decided.lanes, restated.lanes) == before
    state, again = office.process(state, "VNSGN01", [critical("A1", chosen)], context(T0 + 10 * MINUTE))
    assert again.lanes == []
    # A second alert restates it again with both ids, and the memory survives the stored form.
    state = stored(state)
    _, second = office.process(state, "VNSGN01", [critical("A0", chosen, "D9")], context(T0 + 10 * MINUTE))
    assert [(r["declaration_id"], r["alert_ids"]) for r in second.lanes] == [(chosen, ["A0", "A1"])]


def test_critical_alerts_are_forgotten_an_hour_behind_stream_time_unless_their_declaration_waits():
    alerts = [critical("A1", "D0"), critical("A2", "D99"), critical("A3", "D200")]
    state, _ = office.process(None, "VNSGN01", alerts, context(T0))
    state, _ = office.process(state, "VNSGN01", [lodged(0, 0.1), lodged(200, 0.1)], context(None))
    state, _ = office.process(state, "VNSGN01", [], context(T0 + office.DECIDED_MEMORY_MS + MINUTE))
    assert set(state.critical) == {"D200"} and "D0" in state.segment_of  # its segment goes as a whole
    state, _ = office.process(state, "VNSGN01", [], context(T0 + office.DECIDED_MEMORY_MS + office.SEGMENT_MS))
    assert set(state.critical) == {"D200"} and set(state.segment_of) == {"D200"}
    _, outcome = office.process(state, "VNSGN01", [], context(T0 + 200 * MINUTE))
    assert [(r["declaration_id"], r["lane"], r["alert_ids"]) for r in outcome.lanes] == [("D200", "RED", ["A3"])]


def test_only_critical_alerts_naming_declarations_go_to_the_offices():
    finding = Finding(rule_id="WATCHLIST_HIT", identity="x", severity="CRITICAL", subject_type="IMPORTER",
                      subject_id="IMP-1", office_code="VNSGN01", event_time=T0, window_start=T0,
                      explanation="", evidence=(), trigger_event_ids=("e1",), declaration_ids=("D1",))
    forwards = office.critical_forwards([finding, replace(finding, severity="HIGH"),
                                         replace(finding, identity="y", declaration_ids=())])
    assert [(f.subject_kind, f.key, f.kind, f.event["declaration_ids"]) for f in forwards] == \
        [("offices", "VNSGN01", office.CRITICAL_ALERT, ["D1"])]
    assert forwards[0].event["alert_id"] == finding.alert_id


def test_a_version_1_state_is_read_and_ignores_redeliveries():
    doc = {"office_code": "VNSGN01", "lanes": {"arrivals": [T0], "reds": [], "yellows": [], "recent": [0.1],
                                               "first_seen": T0},
           "pending": [], "decided": {"D0": T0}, "raised": {}, "v": 1}
    state = office.load(doc, lambda segment_id: None)
    state, outcome = office.process(state, "VNSGN01", [lodged(0, 0.1), critical("A1", "D0")], context(T0))
    assert outcome.lanes == [] and state.critical["D0"][1] == ["A1"]


def test_a_version_2_state_is_read_into_segments_and_goes_on_as_it_would_have():
    events = [lodged(n, score=n / 10) for n in range(8)]
    state, _ = office.process(None, "VNSGN01", events, context(T0 + 3 * MINUTE))
    waiting = [[t, d, state.segments[s][d]["score"], "m1", []] for t, d, s in state.pending]
    decided = {d: [e["t"], e["lane"], e["score"], "m1", e["control"], e["inspected"]]
               for segment in state.segments.values() for d, e in segment.items() if "lane" in e}
    doc = orjson.loads(orjson.dumps({"office_code": "VNSGN01", "lanes": state.lanes, "pending": waiting,
                                     "decided": decided, "critical": {}, "raised": {}, "v": 2}))
    upgraded = office.load(doc, lambda segment_id: None)
    assert upgraded.dirty_segments == set(upgraded.segments)  # written before the new head
    assert remembered(stored(upgraded)) == remembered(upgraded)
    _, expected = office.process(state, "VNSGN01", [lodged(3, 0.3)], context(T0 + 9 * MINUTE))
    _, outcome = office.process(upgraded, "VNSGN01", [lodged(3, 0.3)], context(T0 + 9 * MINUTE))
    assert outcome.lanes == expected.lanes and len(outcome.lanes) == 4


def test_the_declarations_sent_red_or_yellow_carry_their_categories_and_no_other_does():
    categories = {n: {"declarant_id": f"DCL-{n}", "office_code": "VNSGN01"} for n in range(12)}
    events = [(kind, {**event, "categories": categories[n]})
              for n, (kind, event) in enumerate(lodged(n, score=(n * 7 % 12) / 12) for n in range(12))]
    _, outcome = office.process(None, "VNSGN01", events, context(T0 + 20 * MINUTE))
    assert {lane["lane"] for lane in outcome.lanes} == {"RED", "YELLOW", "GREEN"}
    for lane in outcome.lanes:
        n = int(lane["declaration_id"][1:])
        assert lane.get(office.CATEGORIES_KEY) == (None if lane["lane"] == "GREEN" else categories[n]), lane


def test_a_green_lane_forced_red_after_its_decision_is_sent_for_inspection_with_its_categories_once():
    categories = {n: {"declarant_id": f"DCL-{n}", "office_code": "VNSGN01"} for n in range(6)}
    events = [(kind, {**event, "categories": categories[n]})
              for n, (kind, event) in enumerate(lodged(n, score=n / 10) for n in range(6))]
    state, decided = office.process(None, "VNSGN01", events, context(T0 + 9 * MINUTE))
    green = next(lane["declaration_id"] for lane in decided.lanes if lane["lane"] == "GREEN")
    # The decided GREEN lane's categories outlive its decision in the stored form.
    state = stored(state)
    state, forced = office.process(state, "VNSGN01", [critical("A1", green)], context(T0 + 9 * MINUTE))
    (record,) = forced.lanes
    assert (record["lane"], record[office.CATEGORIES_KEY]) == ("RED", categories[int(green[1:])])
    assert state.segment_of[green] in state.dirty_segments
    # A second alert restates it again, but it was already sent for inspection.
    _, again = office.process(stored(state), "VNSGN01", [critical("A2", green)], context(T0 + 10 * MINUTE))
    assert [(r["alert_ids"], office.CATEGORIES_KEY in r) for r in again.lanes] == [(["A1", "A2"], False)]
