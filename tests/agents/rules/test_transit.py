import itertools

from agents.rules.config import load_rule_book
from tests.builders import HOUR, MINUTE, T0, declaration, gate_event, next_id
from tests.oracle import Oracle, expected_alerts

RULES = load_rule_book()
DEADLINE = T0 + 48 * HOUR


def transit_shipment(cleared=True):
    doc = next_id("BL")
    lodged = declaration(transport_doc_no=doc, procedure="TRANSIT", office_code="VNHPH01",
                         destination_office="VNLSN01", transit_deadline=DEADLINE)
    events = [("declaration", lodged)]
    if cleared:
        events.append(("declaration", dict(lodged, event_id=next_id("ev"), action="CLEARED", event_time=T0 + HOUR)))
    return doc, events


def rule(events, rule_id, flush=HOUR):
    return {k: f for k, f in expected_alerts(events, RULES, flush_after_ms=flush).items() if f.rule_id == rule_id}


def later(time):
    return ("declaration", declaration(event_time=time))


def test_arrival_at_the_destination_in_time_is_fine():
    doc, events = transit_shipment()
    events.append(("gate_event", gate_event("IN", transport_doc_no=doc, office_code="VNLSN01",
                                            event_time=T0 + 20 * HOUR)))
    assert rule(events + [later(DEADLINE + HOUR)], "TRANSIT_OVERDUE") == {}


def test_no_arrival_by_the_deadline_is_overdue_once_stream_time_passes_it():
    doc, events = transit_shipment()
    oracle = Oracle(RULES)
    for kind, record in events:
        oracle.feed(kind, record)
    oracle.advance(DEADLINE - 1)
    assert oracle.alerts == {}
    oracle.advance(DEADLINE)
    (finding,) = oracle.alerts.values()
    assert finding.rule_id == "TRANSIT_OVERDUE" and finding.subject_id == doc
    assert finding.event_time == DEADLINE and "VNLSN01" in finding.explanation


def test_late_arrival_is_still_overdue_and_uncleared_transits_are_not_judged():
    doc, events = transit_shipment()
    events.append(("gate_event", gate_event("IN", transport_doc_no=doc, office_code="VNLSN01",
                                            event_time=DEADLINE + MINUTE)))
    assert len(rule(events, "TRANSIT_OVERDUE")) == 1
    doc, events = transit_shipment(cleared=False)
    assert rule(events + [later(DEADLINE + HOUR)], "TRANSIT_OVERDUE") == {}


def test_arrival_at_another_office_is_wrong_office_whatever_the_order():
    doc, events = transit_shipment()
    wrong = ("gate_event", gate_event("IN", transport_doc_no=doc, office_code="VNCLI01", event_time=T0 + 10 * HOUR))
    results = set()
    for order in itertools.permutations([*events, wrong]):
        found = rule(list(order), "TRANSIT_WRONG_OFFICE", flush=None)
        results.add(tuple(sorted((k, f.office_code) for k, f in found.items())))
    ((only,),) = results
    assert only[1] == "VNCLI01"


def test_the_departure_office_and_arrivals_before_clearance_are_not_wrong():
    doc, events = transit_shipment()
    events += [("gate_event", gate_event("IN", transport_doc_no=doc, office_code="VNHPH01",
                                         event_time=T0 + 2 * HOUR)),
               ("gate_event", gate_event("IN", transport_doc_no=doc, office_code="VNCLI01",
                                         event_time=T0 + 30 * MINUTE))]
    assert rule(events, "TRANSIT_WRONG_OFFICE", flush=None) == {}
