from agents.rules import seal_broken
from agents.rules.config import load_rule_book
from tests.builders import declaration, gate_event, next_id
from tests.oracle import expected_alerts

RULES = load_rule_book()


def seals(events):
    return {k: f for k, f in expected_alerts(events, RULES).items() if f.rule_id == seal_broken.RULE_ID}


def test_broken_seal_on_a_known_shipment():
    doc = next_id("BL")
    decl = declaration(transport_doc_no=doc)
    gate = gate_event("IN", transport_doc_no=doc, seal_intact=False, seal_no="SL-1")
    (finding,) = seals([("declaration", decl), ("gate_event", gate)]).values()
    assert finding.severity == "HIGH"
    assert (finding.subject_type, finding.subject_id) == ("SHIPMENT", doc)
    assert finding.declaration_ids == (decl["declaration_id"],)
    assert "seal SL-1 broken" in finding.explanation


def test_intact_or_unknown_seal_raises_nothing():
    doc = next_id("BL")
    events = [("gate_event", gate_event("IN", transport_doc_no=doc, seal_intact=True)),
              ("gate_event", gate_event("IN", transport_doc_no=doc, seal_intact=None))]
    assert seals(events) == {}


def test_unresolved_container_is_reported_on_the_container_once_the_skew_has_passed():
    container = next_id("MSKU")
    gate = gate_event("IN", container_no=container, seal_intact=False)
    assert seals([("gate_event", gate)]) == {}
    later = gate_event("IN", event_time=gate["event_time"] + 60_000)
    (finding,) = seals([("gate_event", gate), ("gate_event", later)]).values()
    assert (finding.subject_type, finding.subject_id) == ("CONTAINER", container)


def test_gate_event_naming_nothing_is_reported_on_the_vehicle():
    gate = gate_event("OUT", seal_intact=False, vehicle_plate="29H-00001")
    (finding,) = seals([("gate_event", gate)]).values()
    assert (finding.subject_type, finding.subject_id) == ("VEHICLE", "29H-00001")


def test_same_gate_event_resolved_later_keeps_its_alert_id():
    container = next_id("MSKU")
    doc = next_id("BL")
    gate = gate_event("IN", container_no=container, seal_intact=False)
    decl = declaration(transport_doc_no=doc, container_nos=[container], event_time=gate["event_time"])
    alerts = seals([("gate_event", gate), ("declaration", decl)])
    (finding,) = alerts.values()
    assert (finding.subject_type, finding.subject_id) == ("SHIPMENT", doc)
