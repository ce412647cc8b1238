import itertools

import pytest

from agents.rules import exit_without_clearance
from agents.rules.config import RuleConfig, load_rule_book
from tests.builders import MINUTE, T0, declaration, gate_event, manifest, next_id
from tests.oracle import Oracle, expected_alerts

RULES = load_rule_book()
SKEW = 60_000


def exits(events, flush=10 * MINUTE, rules=RULES):
    return {k: f for k, f in expected_alerts(events, rules, flush_after_ms=flush).items()
            if f.rule_id == exit_without_clearance.RULE_ID}


def lodged_and_out(clear_at=None, cancel_at=None, containers=(), gate_fields=None):
    doc = next_id("BL")
    decl = declaration(transport_doc_no=doc, container_nos=list(containers))
    events = [("declaration", decl)]
    if clear_at is not None:
        events.append(("declaration", dict(decl, event_id=next_id("ev"), action="CLEARED",
                                           event_time=clear_at)))
    if cancel_at is not None:
        events.append(("declaration", dict(decl, event_id=next_id("ev"), action="CANCELLED",
                                           event_time=cancel_at)))
    out = gate_event("OUT", event_time=T0 + 10 * MINUTE, **(gate_fields or {"transport_doc_no": doc}))
    events.append(("gate_event", out))
    return doc, out, sorted(events, key=lambda e: e[1]["event_time"])


def test_out_without_clearance_is_critical():
    doc, out, events = lodged_and_out()
    (finding,) = exits(events).values()
    assert finding.severity == "CRITICAL" and finding.subject_type == "SHIPMENT"
    assert finding.subject_id == doc and finding.trigger_event_ids == (out["event_id"],)
    assert finding.gate_id == "GATE-3"
    assert finding.window_end == out["event_time"] + SKEW


@pytest.mark.parametrize(("clear_offset", "alerted"), [
    (-MINUTE, False),        # cleared before the exit
    (SKEW, False),           # cleared exactly at the end of the feed skew
    (SKEW + 1, True),        # one millisecond too late
])
def test_clearance_within_the_feed_skew_counts(clear_offset, alerted):
    doc, out, events = lodged_and_out(clear_at=T0 + 10 * MINUTE + clear_offset)
    assert bool(exits(events)) is alerted


def test_decision_waits_for_stream_time_to_pass_the_skew():
    doc, out, events = lodged_and_out()
    oracle = Oracle(RULES)
    for kind, record in events:
        oracle.feed(kind, record)
    assert oracle.alerts == {}
    oracle.advance(out["event_time"] + SKEW - 1)
    assert oracle.alerts == {}
    oracle.advance(out["event_time"] + SKEW)
    assert len(oracle.alerts) == 1


def test_clearance_arriving_after_the_gate_event_but_inside_the_skew_prevents_the_alert():
    doc, out, events = lodged_and_out()
    cleared = dict(events[0][1], event_id=next_id("ev"), action="CLEARED",
                   event_time=out["event_time"] + 30_000)
    assert exits(events + [("declaration", cleared)]) == {}


def test_cancelled_after_clearance_before_exit_is_not_cleared():
    doc, out, events = lodged_and_out(clear_at=T0 + MINUTE, cancel_at=T0 + 2 * MINUTE)
    (finding,) = exits(events).values()
    assert "cancelled" in finding.explanation


def test_cancelled_after_the_goods_left_does_not_matter():
    doc, out, events = lodged_and_out(clear_at=T0 + MINUTE, cancel_at=T0 + 30 * MINUTE)
    assert exits(events) == {}


def test_no_declaration_at_all():
    doc = next_id("BL")
    out = gate_event("OUT", transport_doc_no=doc)
    (finding,) = exits([("gate_event", out)]).values()
    assert "no declaration was lodged" in finding.explanation


def test_container_only_gate_event_finds_its_shipment():
    container = next_id("MSCU")
    doc, out, events = lodged_and_out(clear_at=T0 + MINUTE, containers=[container],
                                      gate_fields={"container_no": container})
    assert exits(events) == {}
    doc, out, events = lodged_and_out(containers=[container + "X"],
                                      gate_fields={"container_no": container + "X"})
    (finding,) = exits(events).values()
    assert finding.subject_type == "SHIPMENT" and finding.subject_id == doc
    assert container + "X" in finding.container_nos


def test_container_listed_only_by_the_manifest_resolves_too():
    container = next_id("TGHU")
    doc = next_id("BL")
    events = [("manifest", manifest(doc, container_nos=[container])),
              ("declaration", declaration(transport_doc_no=doc, action="CLEARED")),
              ("gate_event", gate_event("OUT", container_no=container, event_time=T0 + MINUTE))]
    assert exits(events) == {}


def test_unknown_container_leaving_is_raised_on_the_container():
    container = next_id("ZZZU")
    out = gate_event("OUT", container_no=container)
    (finding,) = exits([("gate_event", out)]).values()
    assert finding.subject_type == "CONTAINER" and finding.subject_id == container
    assert "no declaration or manifest lists it" in finding.explanation


def test_link_arriving_within_the_skew_resolves_the_container():
    container = next_id("LATE")
    doc = next_id("BL")
    out = gate_event("OUT", container_no=container, event_time=T0)
    decl = declaration(transport_doc_no=doc, container_nos=[container], action="CLEARED",
                       event_time=T0 - MINUTE)
    for order in itertools.permutations([("gate_event", out), ("declaration", decl)]):
        assert exits(list(order)) == {}


def test_in_gate_events_never_raise():
    doc = next_id("BL")
    assert exits([("gate_event", gate_event("IN", transport_doc_no=doc))]) == {}


def test_redelivered_gate_event_raises_once():
    doc, out, events = lodged_and_out()
    oracle = Oracle(RULES)
    for kind, record in events + [events[-1]]:
        oracle.feed(kind, record)
    oracle.advance(out["event_time"] + 10 * MINUTE)
    oracle.feed("gate_event", out)
    oracle.advance(out["event_time"] + 20 * MINUTE)
    assert len(oracle.alerts) == 1
    assert set(oracle.versions.values()) == {1}


def test_skew_is_configurable():
    rules = RULES.with_override(RuleConfig("EXIT_WITHOUT_CLEARANCE", True, "CRITICAL",
                                           {"feed_skew_seconds": 600.0}))
    doc, out, events = lodged_and_out(clear_at=T0 + 15 * MINUTE)
    assert exits(events, rules=rules, flush=20 * MINUTE) == {}
    assert len(exits(events)) == 1
