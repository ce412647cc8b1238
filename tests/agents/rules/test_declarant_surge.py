import pytest

from agents.rules import declarant_surge
from agents.rules.config import load_rule_book
from tests.builders import HOUR, MINUTE, T0, declaration, next_id
from tests.oracle import expected_alerts

RULES = load_rule_book()
DAY = 24 * HOUR


def surges(events):
    alerts = expected_alerts([("declaration", e) for e in events], RULES, flush_after_ms=DAY)
    return {k: f for k, f in alerts.items() if f.rule_id == declarant_surge.RULE_ID}


def filings(declarant, start, count, every=30 * MINUTE):
    return [declaration(declarant_id=declarant, event_time=start + i * every) for i in range(count)]


def history(declarant, per_day, days):
    """``per_day`` filings a day on each of the first ``days`` days from T0."""
    return [e for day in range(days) for e in filings(declarant, T0 + day * DAY, per_day)]


def test_a_quiet_declarant_filing_25_in_a_day_raises_one_alert():
    declarant = next_id("DCL")
    burst = filings(declarant, T0 + 5 * DAY, 25)
    (finding,) = surges(history(declarant, 1, 5) + burst).values()
    assert (finding.subject_type, finding.subject_id) == ("DECLARANT", declarant)
    assert finding.declaration_ids == tuple(e["declaration_id"] for e in burst)
    assert "lodged 25 declarations within 12.0 h" in finding.explanation
    assert "averaging 1.0 a day before" in finding.explanation
    assert {e.name: e.observed for e in finding.evidence}["trailing_daily_mean"] == "1.00"


def test_a_declarant_never_seen_before_surges_once_observation_is_warm():
    other = next_id("DCL")
    newcomer = next_id("DCL")
    events = sorted(history(other, 2, 3) + filings(newcomer, T0 + 2 * DAY, 20), key=lambda e: e["event_time"])
    (finding,) = surges(events).values()
    assert finding.subject_id == newcomer
    assert "a declarant never seen before" in finding.explanation


@pytest.mark.parametrize("case", ["nineteen", "busy_baseline", "spread_over_25_hours", "during_warmup"])
def test_stays_silent_just_under_each_threshold(case):
    declarant = next_id("DCL")
    if case == "nineteen":
        events = history(declarant, 1, 5) + filings(declarant, T0 + 5 * DAY, 19)
    elif case == "busy_baseline":
        # 3 a day before: 30 is the bar, 30 does not pass it.
        events = history(declarant, 3, 5) + filings(declarant, T0 + 5 * DAY, 30, every=20 * MINUTE)
    elif case == "spread_over_25_hours":
        events = history(declarant, 1, 5) + filings(declarant, T0 + 5 * DAY, 25, every=int(25 * HOUR / 19))
    else:
        events = filings(declarant, T0, 25)
    assert surges(events) == {}


def test_amendments_and_cancellations_are_not_new_filings():
    declarant = next_id("DCL")
    base = history(declarant, 1, 5)
    burst = filings(declarant, T0 + 5 * DAY, 10)
    amendments = [dict(e, event_id=next_id("ev-d"), event_time=e["event_time"] + MINUTE, action="AMENDED")
                  for e in burst]
    assert surges(base + burst + amendments) == {}
