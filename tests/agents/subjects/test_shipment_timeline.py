"""The shipment's own events as the case timeline shows them."""

from agents.rules.config import load_rule_book
from agents.subjects.routes import SHIPMENTS
from agents.subjects.shipment_timeline import TIMELINE_MEMORY
from tests.builders import declaration, gate_event, manifest, next_id
from tests.oracle import Oracle


def timeline_after(events, reload=False):
    oracle = Oracle(load_rule_book(), reload=reload)
    for kind, record in events:
        oracle.feed(kind, record)
    return oracle.states[SHIPMENTS]


def test_every_declaration_version_the_manifest_and_gate_passages_in_event_time_order():
    doc = next_id("BL")
    lodged = declaration(transport_doc_no=doc, gross_weight_kg=900.0)
    amended = {**lodged, "event_id": next_id("E"), "action": "AMENDED", "gross_weight_kg": 950.0,
               "event_time": lodged["event_time"] + 60_000}
    line = manifest(doc, gross_weight_kg=950.0, event_time=lodged["event_time"] - 60_000)
    gate = gate_event("IN", transport_doc_no=doc, seal_intact=False, event_time=lodged["event_time"] + 120_000)
    # Arrival order differs from event time order, and the gate event comes twice.
    states = timeline_after([("declaration", amended), ("gate_event", gate), ("declaration", lodged),
                             ("manifest", line), ("gate_event", gate)], reload=True)
    timeline = states[doc].timeline
    assert [(e["kind"], e["event_id"]) for e in timeline] == [
        ("manifest", line["event_id"]), ("declaration", lodged["event_id"]),
        ("declaration", amended["event_id"]), ("gate", gate["event_id"])]
    assert timeline[1]["facts"]["action"] == "LODGED" and timeline[2]["facts"]["gross_weight_kg"] == 950.0
    assert timeline[3]["facts"]["seal_intact"] is False
    assert timeline[3]["office_code"] == gate["office_code"]


def test_the_timeline_keeps_the_newest_events_only():
    doc = next_id("BL")
    first = declaration(transport_doc_no=doc)
    passages = [gate_event("IN", transport_doc_no=doc, event_time=first["event_time"] + i * 1_000)
                for i in range(1, TIMELINE_MEMORY + 6)]
    states = timeline_after([("declaration", first), *(("gate_event", g) for g in passages)])
    timeline = states[doc].timeline
    assert len(timeline) == TIMELINE_MEMORY
    assert timeline[-1]["event_id"] == passages[-1]["event_id"]
    assert first["event_id"] not in {e["event_id"] for e in timeline}
