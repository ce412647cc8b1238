"""No subject's stored record outgrows the broker's message limit, however busy the subject.

A platform declarant, a hot HS code and a busy office are fed for days of
event time at thousands of declarations an hour; every record a checkpoint
would write (a state, or a segment of a segmented state) is measured as
stored.
"""

from __future__ import annotations

import random

import orjson

from agents.risk.features import CATEGORIES, FEATURES
from agents.risk.lanes import Capacity, LanePolicy, OfficeLanes
from agents.rules.config import load_rule_book
from agents.subjects import declarant, hs_code, office
from agents.subjects.common import Context
from tests.builders import HOUR, MINUTE, T0, declaration

RULES = load_rule_book()
LATENESS = 600_000
# The broker's default largest message (Kafka's message.max.bytes, 1 MiB).
MESSAGE_LIMIT = 1024 * 1024
STEP = 10 * MINUTE  # one batch of events per step, stream time one step behind


def steps(days: int) -> range:
    return range(T0, T0 + days * 24 * HOUR, STEP)


def batch(declarant_id: str, start: int, per_hour: int, hs_code_prefix: str = "85044090") -> list[dict]:
    count = per_hour * STEP // HOUR
    events = []
    for n in range(count):
        event = declaration(declarant_id=declarant_id, event_time=start + n * STEP // count)
        event["items"][0]["hs_code"] = hs_code_prefix
        event["items"][0]["value_usd"] = 12_000.0 + n  # unit values differ, as real ones do
        events.append(event)
    return events


def test_a_platform_declarant_filing_2400_an_hour_for_days_stays_under_the_message_limit():
    # One 1-hour segment of 2,150 declarations had been 1 MB. Three days of this are
    # 172,800 declarations, judged for surges from the second day on.
    key, days, per_hour = "PLATFORM-1", 3, 2_400
    state: declarant.DeclarantState | None = None
    largest = 0
    for start in steps(days):
        events = [("decl", event) for event in batch(key, start, per_hour)]
        context = Context(RULES, start - STEP, LATENESS, T0, start - STEP)
        state, _ = declarant.process(state, key, events, context)
        stored = [orjson.dumps(segment) for segment in declarant.take_dirty_segments(state).values()
                  if segment is not None]
        largest = max([largest, len(orjson.dumps(declarant.head(state))), *map(len, stored)])
    assert state is not None
    assert len(state.segment_of) == days * 24 * per_hour  # every one is remembered (for eight days)
    assert largest < MESSAGE_LIMIT / 2, largest


def test_a_hot_hs_code_judged_for_days_stays_small_and_does_not_grow():
    key, days, per_hour = "850440", 3, 1_000
    state: hs_code.HsCodeState | None = None
    sizes = []
    for start in steps(days):
        lines = [("line", hs_code.priced_lines(event)[key]) for event in batch("DCL-H", start, per_hour)]
        context = Context(RULES, start - STEP, LATENESS, T0, start - STEP)
        state, _ = hs_code.process(state, key, lines, context)
        sizes.append(len(orjson.dumps(state)))
    steps_a_day = 24 * HOUR // STEP
    assert max(sizes) < MESSAGE_LIMIT / 2, max(sizes)
    # The learned sample is full within the first day; the last day holds no more than the first.
    assert max(sizes[-steps_a_day:]) <= max(sizes[:steps_a_day]) * 1.05


def test_a_busy_office_deciding_20000_lanes_an_hour_stays_under_the_message_limit():
    # Stored whole, 2,400 an hour had made a 0.8 MB office; 20,000 would be 7 MB. Stream time
    # one step (10 minutes) behind: a step's declarations wait, with their feature vectors and
    # categories.
    key, per_hour = "VNSGN01", 20_000
    policy = LanePolicy({}, Capacity(per_hour // 10, per_hour // 5), control_rate=0.02)
    categories = {name: f"{name}-value-{n}" for n, name in enumerate(CATEGORIES)}
    rng = random.Random(7)
    state: office.OfficeState | None = None
    largest = n = 0
    count = per_hour * STEP // HOUR
    for start in range(T0, T0 + 4 * HOUR, STEP):  # the memory is an hour: four show it does not grow
        events = []
        for i in range(count):
            n += 1
            events.append(("lodged", {"declaration_id": f"D{n:09d}", "event_time": start + i * STEP // count,
                                      "score": rng.random(), "model_version": "kcs-2026-12-06T10:00:00-0a1b2c3d",
                                      "features": [rng.uniform(0, 1e4) for _ in FEATURES],
                                      "categories": categories}))
        context = Context(RULES, start - STEP, LATENESS, T0, start - STEP, lane_policy=policy)
        state, outcome = office.process(state, key, events, context)
        stored = [orjson.dumps(segment) for segment in office.take_dirty_segments(state).values()
                  if segment is not None]
        largest = max([largest, len(orjson.dumps(office.head(state))), *map(len, stored)])
    assert state is not None
    assert len(state.pending) >= count  # a step and more waits
    assert per_hour < len(state.segment_of) < 2 * per_hour  # an hour and more is remembered, not four
    assert largest < MESSAGE_LIMIT / 2, largest


def test_an_office_counting_a_week_of_arrivals_keeps_a_small_head():
    # A week's capacity window (what evaluate uses, and an office with a weekly swing
    # needs): kept one by one, 1,000 arrivals an hour and their RED and YELLOW lanes
    # made a 3 MB head after a week; 20,000 an hour would make 60 MB.
    key, per_hour, week = "VNSGN01", 1_000, 7 * 24 * HOUR
    capacity = Capacity(per_hour * 168 // 10, per_hour * 168 // 5, window_ms=week)
    state = office.OfficeState(office_code=key, lanes=OfficeLanes())
    rng = random.Random(3)
    largest = 0
    for n in range(8 * 24 * per_hour):
        state.lanes.decide(f"D{n:09d}", T0 + n * HOUR // per_hour, rng.random(), capacity, 0.02)
        if n % 10_000 == 0:
            largest = max(largest, len(orjson.dumps(office.head(state))))
    assert state.lanes.arrivals.total >= 7 * 24 * per_hour  # the whole week is counted
    assert largest < MESSAGE_LIMIT / 8, largest
