from agents.rules.config import load_rule_book
from tests.builders import HOUR, T0, declaration, gate_event, next_id, parcel
from tests.oracle import expected_alerts

RULES = load_rule_book()
DAY = 24 * HOUR


def broken_seal(declarant, time):
    doc = next_id("BL")
    return [("declaration", declaration(transport_doc_no=doc, declarant_id=declarant, event_time=time)),
            ("gate_event", gate_event("IN", transport_doc_no=doc, seal_intact=False, event_time=time + 1))]


def by_time(alerts):
    return sorted(alerts.values(), key=lambda f: f.event_time)


def test_first_alert_scores_its_severity_base():
    (finding,) = expected_alerts(broken_seal(next_id("DCL"), T0), RULES).values()
    assert finding.score == RULES.scoring.base["HIGH"] == 70
    assert finding.prior_alerts == 0
    assert "Score raised" not in finding.explanation


def test_history_of_the_same_declarant_raises_the_score_and_says_so():
    declarant = next_id("DCL")
    events = broken_seal(declarant, T0) + broken_seal(declarant, T0 + DAY) + broken_seal(declarant, T0 + 2 * DAY)
    first, second, third = by_time(expected_alerts(events, RULES))
    assert [first.score, second.score, third.score] == [70, 75, 80]
    assert third.prior_alerts == 2
    assert f"Score raised by 10: 2 earlier alert(s) on declarant {declarant} in the last 30 days." in \
        third.explanation
    assert first.declarant_id == declarant


def test_alerts_outside_the_window_or_on_others_do_not_count():
    declarant = next_id("DCL")
    events = broken_seal(declarant, T0) + broken_seal(declarant, T0 + 31 * DAY) + broken_seal(next_id("DCL"), T0)
    assert [f.score for f in by_time(expected_alerts(events, RULES))] == [70, 70, 70]


def test_boost_is_capped_and_score_stays_within_100():
    declarant = next_id("DCL")
    events = []
    for day in range(10):
        doc = next_id("BL")
        events += [("declaration", declaration(transport_doc_no=doc, declarant_id=declarant,
                                               event_time=T0 + day * HOUR)),
                   ("gate_event", gate_event("OUT", transport_doc_no=doc, event_time=T0 + day * HOUR + 1))]
    scores = [f.score for f in by_time(expected_alerts(events, RULES, flush_after_ms=DAY))]
    assert scores[0] == 90 and max(scores) == 100
    assert len(scores) == 10


def test_split_alerts_are_scored_on_the_importer():
    buyer = next_id("BUYER")
    events = [("declaration", parcel(buyer, 30.0, T0 + i * HOUR)) for i in range(4)]
    events += [("declaration", parcel(buyer, 30.0, T0 + 3 * DAY + i * HOUR)) for i in range(4)]
    first, second = by_time(expected_alerts(events, RULES))
    assert (first.score, second.score) == (70, 75)
    assert f"importer {buyer}" in second.explanation

