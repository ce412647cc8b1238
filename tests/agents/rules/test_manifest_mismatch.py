import itertools

import pytest

from agents.rules import manifest_mismatch
from agents.rules.config import load_rule_book
from tests.builders import MINUTE, T0, declaration, manifest, next_id
from tests.oracle import expected_alerts

RULES = load_rule_book()


def mismatches(events):
    return {k: f for k, f in expected_alerts(events, RULES).items()
            if f.rule_id == manifest_mismatch.RULE_ID}


def shipment(declared_kg, manifest_kg, declared_packages=10, manifest_packages=10):
    doc = next_id("BL")
    decl = declaration(transport_doc_no=doc, gross_weight_kg=declared_kg, package_count=declared_packages)
    man = manifest(doc, gross_weight_kg=manifest_kg, package_count=manifest_packages,
                   event_time=T0 + MINUTE)
    return doc, [("declaration", decl), ("manifest", man)]


@pytest.mark.parametrize(("declared", "expected"), [
    (1_100.0, None),          # exactly 10 % off: within tolerance
    (1_100.1, "MEDIUM"),      # just over 10 %
    (1_300.0, "MEDIUM"),      # exactly 30 %: not yet HIGH
    (1_300.1, "HIGH"),        # just over 30 %
    (899.9, "MEDIUM"),        # under-declared by just over 10 %
    (1_000.0, None),
])
def test_weight_thresholds(declared, expected):
    doc, events = shipment(declared, 1_000.0)
    alerts = mismatches(events)
    if expected is None:
        assert alerts == {}
    else:
        (finding,) = alerts.values()
        assert finding.severity == expected
        assert finding.subject_type == "SHIPMENT" and finding.subject_id == doc
        assert finding.evidence[0].name == "gross_weight_kg"


def test_any_package_count_difference_is_medium():
    doc, events = shipment(1_000.0, 1_000.0, declared_packages=10, manifest_packages=11)
    (finding,) = mismatches(events).values()
    assert finding.severity == "MEDIUM"
    assert [e.name for e in finding.evidence] == ["package_count"]
    assert "10 packages declared against 11" in finding.explanation


def test_weight_and_packages_both_off_give_one_alert_at_the_higher_severity():
    doc, events = shipment(2_000.0, 1_000.0, declared_packages=10, manifest_packages=12)
    (finding,) = mismatches(events).values()
    assert finding.severity == "HIGH"
    assert [e.name for e in finding.evidence] == ["gross_weight_kg", "package_count"]


def test_same_alert_whichever_arrives_first():
    doc, events = shipment(1_500.0, 1_000.0, declared_packages=9)
    forward = mismatches(events)
    backward = mismatches(list(reversed(events)))
    assert forward.keys() == backward.keys() and len(forward) == 1
    (a,), (b,) = forward.values(), backward.values()
    assert (a.severity, a.evidence, a.explanation, a.trigger_event_ids) == (
        b.severity, b.evidence, b.explanation, b.trigger_event_ids)


def test_declarations_are_summed_and_cancelled_ones_left_out():
    doc = next_id("BL")
    first = declaration(transport_doc_no=doc, gross_weight_kg=600.0, package_count=6)
    second = declaration(transport_doc_no=doc, gross_weight_kg=400.0, package_count=4)
    stray = declaration(transport_doc_no=doc, gross_weight_kg=900.0, package_count=9,
                        event_time=T0 + 2 * MINUTE)
    cancel = dict(stray, event_id=next_id("ev"), action="CANCELLED", event_time=T0 + 3 * MINUTE)
    man = manifest(doc, gross_weight_kg=1_000.0, package_count=10, event_time=T0 + 4 * MINUTE)
    events = [("declaration", first), ("declaration", second), ("declaration", stray),
              ("declaration", cancel), ("manifest", man)]
    assert mismatches(events) == {}


def test_every_arrival_order_of_a_shipment_gives_the_same_final_alert():
    doc = next_id("BL")
    lodged = declaration(transport_doc_no=doc, gross_weight_kg=1_200.0, package_count=10)
    amended = dict(lodged, event_id=next_id("ev"), action="AMENDED", gross_weight_kg=1_500.0,
                   event_time=T0 + 2 * MINUTE)
    man = manifest(doc, gross_weight_kg=1_000.0, event_time=T0 + MINUTE)
    finals = set()
    for order in itertools.permutations([("declaration", lodged), ("declaration", amended),
                                         ("manifest", man)]):
        ((alert_id, finding),) = mismatches(list(order)).items()
        finals.add((alert_id, finding.severity, finding.explanation))
    assert finals == {(next(iter(finals))[0], "HIGH", next(iter(finals))[2])}
    assert "1,500.0 kg" in next(iter(finals))[2]


def test_no_manifest_no_finding():
    assert mismatches([("declaration", declaration(gross_weight_kg=5.0))]) == {}
