import itertools

import pytest

from agents.rules import amendment_churn
from agents.rules.config import load_rule_book
from tests.builders import HOUR, MINUTE, T0, declaration, next_id
from tests.oracle import expected_alerts

RULES = load_rule_book()
DAY = 24 * HOUR


def churn(events):
    alerts = expected_alerts([("declaration", e) for e in events], RULES, flush_after_ms=DAY)
    return {k: f for k, f in alerts.items() if f.rule_id == amendment_churn.RULE_ID}


def lodged(declarant, when, value=10_000.0):
    return declaration(declarant_id=declarant, event_time=when, total_value_usd=value)


def version(original, when, action, value=None):
    return dict(original, event_id=next_id("ev-d"), event_time=when, action=action,
                total_value_usd=original["total_value_usd"] if value is None else value)


def cancellations(declarant, times, lodged_before=HOUR):
    events = []
    for when in times:
        original = lodged(declarant, when - lodged_before)
        events += [original, version(original, when, "CANCELLED")]
    return events


def test_three_cancellations_within_seven_days_raise_one_alert_on_the_declarant():
    declarant = next_id("DCL")
    events = cancellations(declarant, [T0 + HOUR, T0 + 2 * DAY, T0 + 6 * DAY])
    alerts = churn(events)
    assert len(alerts) == 1
    finding = next(iter(alerts.values()))
    assert (finding.subject_type, finding.subject_id, finding.declarant_id) == ("DECLARANT", declarant, declarant)
    assert finding.declaration_ids == tuple(e["declaration_id"] for e in events[::2])
    assert finding.window_start == T0 + HOUR and finding.window_end == T0 + 6 * DAY
    assert "3 cancellation(s)" in finding.explanation
    assert {e.name: e.observed for e in finding.evidence}["changes"] == "3"


def test_amendments_that_lower_values_count_and_their_cut_is_evidence():
    declarant = next_id("DCL")
    first = lodged(declarant, T0, value=9_000.0)
    second = lodged(declarant, T0, value=5_000.0)
    events = [first, second,
              version(first, T0 + HOUR, "AMENDED", 6_000.0),
              version(first, T0 + 2 * HOUR, "AMENDED", 4_000.0),
              version(second, T0 + 3 * HOUR, "AMENDED", 4_500.0)]
    (finding,) = churn(events).values()
    assert "3 amendment(s) lowering declared values by USD 5,500.00" in finding.explanation
    assert {e.name: e.observed for e in finding.evidence}["value_lowered_usd"] == "USD 5,500.00"


@pytest.mark.parametrize("case", ["two_changes", "third_at_seven_days", "raising_amendments",
                                  "same_value_amendment", "two_declarants"])
def test_stays_silent_just_under_each_threshold(case):
    declarant = next_id("DCL")
    times = [T0, T0 + DAY, T0 + 2 * DAY]
    if case == "two_changes":
        events = cancellations(declarant, times[:2])
    elif case == "third_at_seven_days":
        events = cancellations(declarant, [T0, T0 + DAY, T0 + 7 * DAY])
    elif case == "two_declarants":
        events = cancellations(declarant, times[:2]) + cancellations(next_id("DCL"), times[2:])
    else:
        original = lodged(declarant, T0 - HOUR, value=1_000.0)
        events = [original] + cancellations(declarant, times[:2])
        step = 100.0 if case == "raising_amendments" else 0.0
        events.append(version(original, T0 + 3 * HOUR, "AMENDED", 1_000.0 + step))
    assert churn(events) == {}


def test_a_cancellation_counts_once_however_often_it_is_repeated():
    declarant = next_id("DCL")
    events = cancellations(declarant, [T0 + HOUR, T0 + 2 * HOUR])
    events.append(version(events[-2], T0 + 3 * HOUR, "CANCELLED"))
    assert churn(events) == {}


def test_arrival_order_within_the_allowed_lateness_does_not_change_the_alert():
    declarant = next_id("DCL")
    events = cancellations(declarant, [T0 + MINUTE, T0 + 2 * MINUTE, T0 + 3 * MINUTE], lodged_before=MINUTE // 2)
    seen = {tuple(sorted(churn(list(order)))) for order in itertools.permutations(events)}
    assert len(seen) == 1 and len(next(iter(seen))) == 1


def test_a_growing_cluster_keeps_its_alert_id():
    declarant = next_id("DCL")
    events = cancellations(declarant, [T0 + HOUR, T0 + 2 * HOUR, T0 + 3 * HOUR])
    before = churn(events)
    events += cancellations(declarant, [T0 + 4 * HOUR])
    after = churn(events)
    assert set(before) == set(after)
    assert len(next(iter(after.values())).declaration_ids) == 4


def test_a_change_that_arrives_beyond_the_allowed_lateness_counts_in_no_window():
    declarant = next_id("DCL")
    events = cancellations(declarant, [T0 + HOUR, T0 + 2 * HOUR])
    late = cancellations(declarant, [T0 + 3 * HOUR])
    # Another declarant's filing moves stream time an hour past the third cancellation first.
    events.append(lodged(next_id("DCL"), T0 + 4 * HOUR))
    assert churn(events + late) == {}
    assert len(churn(events[:-1] + late)) == 1
