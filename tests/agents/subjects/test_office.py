"""The office subject: lanes once stream time has passed, in event-time order, each declaration once."""

from __future__ import annotations

from typing import Any

import orjson

from agents.risk.lanes import Capacity, LanePolicy, OfficeLanes
from agents.rules.config import load_rule_book
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
    again = office.OfficeState.from_doc(orjson.loads(orjson.dumps(state)))
    assert again == state
