import itertools

import pytest

from agents.rules.config import load_rule_book
from tests.builders import MINUTE, T0, declaration, gate_event, next_id
from tests.oracle import expected_alerts

RULES = load_rule_book()


def weighbridge(events):
    return {k: f for k, f in expected_alerts(events, RULES).items() if f.rule_id == "WEIGHBRIDGE_MISMATCH"}


@pytest.mark.parametrize(("reading", "alerted"), [(1_150.0, False), (1_150.1, True), (849.9, True), (1_000.0, False)])
def test_threshold_is_15_percent_of_the_declared_weight(reading, alerted):
    doc = next_id("BL")
    events = [("declaration", declaration(transport_doc_no=doc, gross_weight_kg=1_000.0)),
              ("gate_event", gate_event("IN", transport_doc_no=doc, cargo_weight_kg=reading, event_time=T0 + MINUTE))]
    found = weighbridge(events)
    assert bool(found) is alerted
    if alerted:
        (finding,) = found.values()
        assert finding.severity == "HIGH" and finding.subject_id == doc


def test_reading_before_the_declaration_gives_the_same_alert():
    doc = next_id("BL")
    events = [("declaration", declaration(transport_doc_no=doc, gross_weight_kg=1_000.0)),
              ("gate_event", gate_event("IN", transport_doc_no=doc, cargo_weight_kg=1_600.0, event_time=T0 - MINUTE))]
    results = {tuple(sorted((k, f.explanation) for k, f in weighbridge(list(order)).items()))
               for order in itertools.permutations(events)}
    assert len(results) == 1 and len(next(iter(results))) == 1


def test_multi_container_shipment_is_judged_on_the_sum_of_its_containers():
    doc, containers = next_id("BL"), ["MSCU0000001", "MSCU0000002"]
    decl = declaration(transport_doc_no=doc, gross_weight_kg=2_000.0, container_nos=containers)
    first = gate_event("IN", container_no=containers[0], cargo_weight_kg=1_000.0, event_time=T0 + MINUTE)
    second = gate_event("IN", container_no=containers[1], cargo_weight_kg=1_050.0, event_time=T0 + 2 * MINUTE)
    assert weighbridge([("declaration", decl), ("gate_event", first), ("gate_event", second)]) == {}
    heavy = dict(second, event_id=next_id("ev"), cargo_weight_kg=1_600.0)
    (finding,) = weighbridge([("declaration", decl), ("gate_event", first), ("gate_event", heavy)]).values()
    assert "2 containers" in finding.explanation and "2,600.0 kg" in finding.explanation


def test_no_reading_no_finding():
    doc = next_id("BL")
    assert weighbridge([("declaration", declaration(transport_doc_no=doc)),
                        ("gate_event", gate_event("IN", transport_doc_no=doc))]) == {}
