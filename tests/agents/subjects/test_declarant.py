"""The declarant state stored as a head plus hour segments: reloading, and a crash between the two writes."""

from __future__ import annotations

import json
from itertools import pairwise
from pathlib import Path
from typing import Any

import orjson
import pytest

from agents.rules.config import load_rule_book
from agents.subjects import declarant
from agents.subjects.common import Context
from tests.builders import HOUR, MINUTE, T0, declaration, next_id

RULES = load_rule_book()
DAY = 24 * HOUR
LATENESS = 600_000


def story(declarant_id: str) -> list[dict[str, Any]]:
    """Five quiet days, a surge, and three cancellations: both of the declarant's rules fire."""
    events = [declaration(declarant_id=declarant_id, event_time=T0 + day * DAY + 9 * HOUR) for day in range(5)]
    events += [declaration(declarant_id=declarant_id, event_time=T0 + 5 * DAY + i * 20 * MINUTE) for i in range(25)]
    for i in range(3):
        lodged = declaration(declarant_id=declarant_id, event_time=T0 + 6 * DAY + i * HOUR)
        events += [lodged, {**lodged, "event_id": next_id("ev-c"), "action": "CANCELLED",
                            "event_time": lodged["event_time"] + 30 * MINUTE}]
    return sorted(events, key=lambda e: e["event_time"])


class Store:
    """What the subject agent keeps in its table: heads and segments, written segments first."""

    def __init__(self) -> None:
        self.head: bytes | None = None
        self.segments: dict[str, bytes] = {}

    def read(self, segment_id: str) -> Any:
        return orjson.loads(self.segments[segment_id]) if segment_id in self.segments else None

    def write_segments(self, state: declarant.DeclarantState) -> None:
        for segment_id, segment in declarant.take_dirty_segments(state, self.read).items():
            if segment is None:
                self.segments.pop(segment_id, None)
            else:
                self.segments[segment_id] = orjson.dumps(segment)

    def write_head(self, state: declarant.DeclarantState) -> None:
        self.head = orjson.dumps(declarant.head(state))

    def load(self) -> declarant.DeclarantState:
        assert self.head is not None
        return declarant.load(orjson.loads(self.head), self.read)


def run(events: list[dict[str, Any]], key: str, reload_every_step: bool = False,
        crash_before_head_at: int | None = None) -> tuple[dict[str, Any], dict[str, int]]:
    """Feed ``events`` one step each; return the findings by alert id and the daily counts.

    ``crash_before_head_at``: at that step the segments are written but not the
    head, the worker dies, reloads from the store and gets that step again.
    """
    state: declarant.DeclarantState | None = None
    store = Store()
    findings: dict[str, Any] = {}
    start = events[0]["event_time"]
    step = 0
    while step < len(events):
        event = events[step]
        context = Context(RULES, event["event_time"], LATENESS, start, event["event_time"])
        state, outcome = declarant.process(state, key, [("decl", event)], context)
        findings.update({f.alert_id: f for f in outcome.findings})
        store.write_segments(state)
        if step == crash_before_head_at:
            crash_before_head_at = None
            state = store.load()
            continue  # the step's input was not acknowledged: it comes again
        store.write_head(state)
        if reload_every_step:
            state = store.load()
        step += 1
    assert state is not None
    final = Context(RULES, events[-1]["event_time"] + DAY, LATENESS, start, None)
    state, outcome = declarant.process(state, key, [], final)
    findings.update({f.alert_id: f for f in outcome.findings})
    return findings, dict(state.daily)


def test_the_story_raises_a_surge_and_churn():
    findings, _daily = run(story("DCL-S1"), "DCL-S1")
    assert sorted({f.rule_id for f in findings.values()}) == ["AMENDMENT_CHURN", "DECLARANT_SURGE"]


def test_reloading_from_head_and_segments_after_every_step_decides_alike():
    events = story("DCL-S2")
    assert run(events, "DCL-S2", reload_every_step=True) == run(events, "DCL-S2")


def test_a_crash_between_segments_and_head_neither_loses_nor_double_counts():
    events = story("DCL-S3")
    uncrashed = run(events, "DCL-S3")
    for step in (3, 12, 31, len(events) - 2):
        assert run(events, "DCL-S3", crash_before_head_at=step) == uncrashed, step


def test_a_new_version_rewrites_only_its_hour_segment():
    key = "DCL-S4"
    state: declarant.DeclarantState | None = None
    events = [declaration(declarant_id=key, event_time=T0 + hour * HOUR) for hour in range(6)]
    for event in events:
        state, _ = declarant.process(state, key, [("decl", event)], Context(RULES, event["event_time"], LATENESS, T0))
    assert state is not None and len(state.segments) == 6
    declarant.take_dirty_segments(state)
    cleared = {**events[2], "event_id": next_id("ev-c"), "action": "CLEARED", "event_time": T0 + 6 * HOUR}
    state, _ = declarant.process(state, key, [("decl", cleared)], Context(RULES, T0 + 6 * HOUR, LATENESS, T0))
    assert list(declarant.take_dirty_segments(state)) == [str((T0 + 2 * HOUR) // declarant.SEGMENT_MS)]


def test_a_forgotten_declaration_seen_again_is_remembered_anew_in_its_new_hour():
    key = "DCL-S5"
    lodged = declaration(declarant_id=key, event_time=T0)
    state, _ = declarant.process(None, key, [("decl", lodged)], Context(RULES, T0, LATENESS, T0))
    later = T0 + 20 * DAY
    # Forgetting runs when stream time settles something on a new day.
    other = declaration(declarant_id=key, event_time=later)
    state, _ = declarant.process(state, key, [("decl", other)], Context(RULES, later, LATENESS, T0))
    assert state.find(lodged["declaration_id"]) is None
    again = {**lodged, "event_id": next_id("ev-c"), "action": "CLEARED", "event_time": later}
    state, _ = declarant.process(state, key, [("decl", again)], Context(RULES, later, LATENESS, T0))
    found = state.find(lodged["declaration_id"])
    assert found is not None and found[0] == str(later // declarant.SEGMENT_MS)
    assert [v["event_id"] for v in found[1]["versions"]] == [again["event_id"]]


def long_surge(declarant_id: str) -> list[dict[str, Any]]:
    """Five quiet days, then 83 declarations ten minutes apart: one surge that keeps growing."""
    events = [declaration(declarant_id=declarant_id, event_time=T0 + day * DAY + 9 * HOUR) for day in range(5)]
    return events + [declaration(declarant_id=declarant_id, event_time=T0 + 5 * DAY + i * 10 * MINUTE)
                     for i in range(83)]


def surge_sends(events: list[dict[str, Any]], key: str, reload_every_step: bool = False) -> list[Any]:
    """Every DECLARANT_SURGE finding sent, in order, feeding ``events`` one step each and then waking the
    subject as its timer asks, until it asks no more."""
    state: declarant.DeclarantState | None = None
    store = Store()
    sent = []
    steps: list[tuple[int, list[Any]]] = [(e["event_time"], [("decl", e)]) for e in events]
    steps.append((events[-1]["event_time"] + MINUTE, []))  # stream time moves on, nothing new
    while steps:
        watermark, routed = steps.pop(0)
        context = Context(RULES, watermark, LATENESS, T0, watermark)
        state, outcome = declarant.process(state, key, routed, context)
        sent += [f for f in outcome.findings if f.rule_id == "DECLARANT_SURGE"]
        store.write_segments(state)
        store.write_head(state)
        if reload_every_step:
            state = store.load()
        if not steps and outcome.next_due is not None:
            steps.append((outcome.next_due, []))  # the timer's wake-up: stream time reached it
    return sent


def test_a_growing_surge_is_sent_as_it_grows_by_a_tenth_and_whole_once_closed(monkeypatch):
    events = long_surge("DCL-S7")
    sent = surge_sends(events, "DCL-S7")
    assert len({f.alert_id for f in sent}) == 1
    sizes = [len(f.declaration_ids) for f in sent]
    assert all(later >= earlier * 1.1 for earlier, later in pairwise(sizes[:-1])), sizes
    assert len(sent) < 20, sizes  # not one version per filing
    surge_ids = {e["declaration_id"] for e in events[5:]}
    assert sizes[-1] < sizes[-2] * 1.1  # its last filings were held, then sent once it closed ...
    assert surge_ids <= set(sent[-1].declaration_ids)  # ... whole
    # ... and as a backlog of the same events, judged in one step, sends it.
    assert sent[-1] == surge_sends_from_backlog(events, "DCL-S7")[-1]
    assert surge_sends(events, "DCL-S7", reload_every_step=True) == sent  # what is held is stored
    monkeypatch.setattr("agents.rules.declarant_surge.RESEND_GROWTH", 0.0)
    assert len(surge_sends(events, "DCL-S7")) > 60  # without the hold: a version per filing


def surge_sends_from_backlog(events: list[dict[str, Any]], key: str) -> list[Any]:
    """The DECLARANT_SURGE findings sent when every event arrives in one step, stream time at the last."""
    state: declarant.DeclarantState | None = None
    sent = []
    routed: list[Any] = [("decl", e) for e in events]
    watermark: int | None = events[-1]["event_time"]
    while watermark is not None:
        state, outcome = declarant.process(state, key, routed, Context(RULES, watermark, LATENESS, T0, None))
        sent += [f for f in outcome.findings if f.rule_id == "DECLARANT_SURGE"]
        routed, watermark = [], outcome.next_due
    return sent


def filed_by_hour(state: declarant.DeclarantState) -> dict[int, set[str]]:
    """The filing index as it should be: every settled filing under its hour."""
    expected: dict[int, set[str]] = {}
    for segment in state.segments.values():
        for declaration_id, record in segment.items():
            if record["filing"] is not None:
                expected.setdefault(record["filing"][0] // HOUR, set()).add(declaration_id)
    return expected


def test_the_filing_index_follows_refilings_forgetting_and_reloading():
    key = "DCL-S6"
    events = story(key)
    # A version an hour and a half older than the declaration's first one arrives
    # after it was settled: the filing moves to an earlier hour.
    moved = events[10]
    events.insert(12, {**moved, "event_id": next_id("ev-e"), "event_time": moved["event_time"] - 90 * MINUTE})
    # Twenty days on, everything before is forgotten.
    events.append(declaration(declarant_id=key, event_time=T0 + 26 * DAY))
    store = Store()
    state: declarant.DeclarantState | None = None
    moved_hours = []
    for step, event in enumerate(events):
        context = Context(RULES, event["event_time"], 4 * HOUR, T0, event["event_time"])
        state, _ = declarant.process(state, key, [("decl", event)], context)
        assert state.filed_in_hour == filed_by_hour(state), step
        found = state.find(moved["declaration_id"])
        if found is not None and found[1]["filing"] is not None:
            moved_hours.append(found[1]["filing"][0] // HOUR)
        store.write_segments(state)
        store.write_head(state)
        if step % 7 == 0:
            state = store.load()
            assert state.filed_in_hour == filed_by_hour(state), step
    assert moved_hours[0] != moved_hours[-1]  # the refiling happened and was indexed
    assert state is not None and set(state.segment_of) == {events[-1]["declaration_id"]}


V1_STATES = Path(__file__).with_name("declarant_v1_states.json")
# Stream time behind each event in that file, so its states hold declarations still waiting.
V1_LAG = 3 * HOUR


def steps_from(state: declarant.DeclarantState | None, events: list[dict[str, Any]], first: int,
               key: str) -> tuple[dict[str, Any], dict[str, int]]:
    """Feed ``events[first:]`` one step each, stream time ``V1_LAG`` behind: findings by alert id, daily counts."""
    start = events[0]["event_time"]
    findings: dict[str, Any] = {}
    for event in events[first:]:
        context = Context(RULES, event["event_time"] - V1_LAG, LATENESS, start, event["event_time"] - V1_LAG)
        state, outcome = declarant.process(state, key, [("decl", event)], context)
        findings.update({f.alert_id: f for f in outcome.findings})
    assert state is not None
    state, outcome = declarant.process(state, key, [], Context(RULES, events[-1]["event_time"] + DAY,
                                                                LATENESS, start, None))
    findings.update({f.alert_id: f for f in outcome.findings})
    return findings, dict(state.daily)


@pytest.mark.parametrize("step", ["9", "27", "33"])
def test_a_version_1_state_is_read_and_goes_on_deciding_as_if_never_stored_otherwise(step):
    # Written by the version-1 code (commit named in the file) from the story's events.
    recorded = json.loads(V1_STATES.read_text())
    events, doc = recorded["events"], recorded["states_before_step"][step]
    key = events[0]["declarant_id"]
    uninterrupted: declarant.DeclarantState | None = None
    start = events[0]["event_time"]
    for event in events[:int(step)]:
        context = Context(RULES, event["event_time"] - V1_LAG, LATENESS, start, event["event_time"] - V1_LAG)
        uninterrupted, _ = declarant.process(uninterrupted, key, [("decl", event)], context)
    migrated = declarant.load(doc, lambda _segment_id: pytest.fail("a version-1 state has no segments"))
    assert migrated.pending, "the recorded state should hold declarations still waiting for stream time"
    assert migrated.daily == uninterrupted.daily and migrated.raised == uninterrupted.raised
    assert sorted(declarant.take_dirty_segments(migrated)) == sorted(uninterrupted.segments)
    assert steps_from(migrated, events, int(step), key) == steps_from(uninterrupted, events, int(step), key)


def test_older_segments_are_let_go_once_written_and_read_back_when_an_amendment_needs_them():
    key = "DCL-S9"
    events = [declaration(declarant_id=key, event_time=T0 + hour * HOUR) for hour in range(10 * 24)]
    # Cancel declarations filed three days before, one a day: churn needs them read back.
    events += [{**events[day * 24], "event_id": next_id("ev-c"), "action": "CANCELLED",
                "event_time": (day + 3) * DAY + T0 + 30 * MINUTE} for day in range(6)]
    events.sort(key=lambda e: e["event_time"])
    in_memory = run(events, key)
    assert {f.rule_id for f in in_memory[0].values()} == {"AMENDMENT_CHURN"}

    store, state, findings = Store(), None, {}
    for event in events:
        context = Context(RULES, event["event_time"], LATENESS, events[0]["event_time"], event["event_time"])
        state, outcome = declarant.process(state, key, [("decl", event)], context)
        findings.update({f.alert_id: f for f in outcome.findings})
        store.write_segments(state)  # as a worker writes them: older ones let go
        store.write_head(state)
        assert state.segments.loaded() <= declarant.KEEP_LOADED_HOURS + 1
    assert state is not None and len(state.segments) > 24 * 8
    final = Context(RULES, events[-1]["event_time"] + DAY, LATENESS, events[0]["event_time"], None)
    state, outcome = declarant.process(state, key, [], final)
    findings.update({f.alert_id: f for f in outcome.findings})
    assert (findings, dict(state.daily)) == in_memory
