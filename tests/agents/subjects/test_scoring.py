"""The scoring subject: every finding that reaches a history is scored and sent, in any arrival order."""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

import pytest

from agents.rules.config import load_rule_book
from agents.rules.findings import Finding, alert_id
from agents.subjects import scoring
from agents.subjects.common import Context, RoutedEvent

DAY_MS = 86_400_000
KEY = "DECLARANT:D1"


def finding(identity: str, day: int) -> RoutedEvent:
    doc: dict[str, Any] = asdict(Finding(
        rule_id="UNDERVALUATION", identity=identity, severity="MEDIUM", subject_type="SHIPMENT",
        subject_id=identity, office_code="KR20", event_time=day * DAY_MS, window_start=day * DAY_MS,
        explanation="under the reference", evidence=(), trigger_event_ids=(f"event-{identity}",),
        declarant_id="D1"))
    return ("finding", {"finding": doc, "version": 1})


@pytest.fixture
def context() -> Context:
    return Context(load_rule_book(), watermark=None)


def sent(outcome: Any) -> set[str]:
    return {f.alert_id for f in outcome.findings}


def test_a_finding_weeks_older_than_the_history_is_still_sent(context):
    # Subjects judge on stream time partition by partition: a finding of day 1 can
    # reach the declarant's history after one of day 60, past the 30-day window.
    state, outcome = scoring.process(None, KEY, [finding("late", 60)], context)
    assert sent(outcome) == {alert_id("UNDERVALUATION", "late")}
    state, outcome = scoring.process(state, KEY, [finding("early", 1)], context)
    assert alert_id("UNDERVALUATION", "early") in sent(outcome)
    # Sent, it is forgotten at the next change: the history stays within its window.
    state, _ = scoring.process(state, KEY, [finding("later", 61)], context)
    assert alert_id("UNDERVALUATION", "early") not in state.history


def test_a_finding_older_than_a_full_history_is_still_sent(context):
    state = None
    for n in range(scoring.HISTORY_LIMIT):
        state, _ = scoring.process(state, KEY, [finding(f"recent-{n}", 10)], context)
    state, outcome = scoring.process(state, KEY, [finding("oldest", 9)], context)
    assert alert_id("UNDERVALUATION", "oldest") in sent(outcome)
    assert state is not None and len(state.history) == scoring.HISTORY_LIMIT + 1


def withdraw(identity: str) -> RoutedEvent:
    return ("withdraw", {"alert_id": alert_id("UNDERVALUATION", identity), "event_time": DAY_MS})


def test_a_finding_withdrawn_before_it_was_sent_is_reported_so_it_counts_once(context):
    # Taken in and withdrawn in one step: this history never sends it, its new one sends
    # it as a moved alert, so only this one can count it as raised.
    state, outcome = scoring.process(None, KEY, [finding("moved", 1), withdraw("moved")], context)
    assert sent(outcome) == set()
    assert outcome.withdrawn_unsent == [(1, "UNDERVALUATION", "MEDIUM")]


def test_a_finding_withdrawn_after_it_was_sent_is_not_reported(context):
    state, outcome = scoring.process(None, KEY, [finding("moved", 1)], context)
    state.raised[alert_id("UNDERVALUATION", "moved")] = [1, "digest"]  # what sending it records
    state, outcome = scoring.process(state, KEY, [withdraw("moved")], context)
    assert outcome.withdrawn_unsent == []
