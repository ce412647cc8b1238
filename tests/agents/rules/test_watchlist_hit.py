import pytest

from agents.rules.config import RuleConfig, load_rule_book
from agents.rules.watchlist_hit import WatchEntry, Watchlist
from tests.builders import HOUR, T0, declaration, gate_event, manifest, next_id
from tests.oracle import expected_alerts

RULES = load_rule_book()


def watching(*entries):
    watchlist = Watchlist()
    for entry in entries:
        watchlist.put(entry)
    return watchlist


def entry(kind, value, severity="HIGH", expires_at=None):
    return WatchEntry(entry_id=f"{kind}:{value}", subject_type=kind, value=value, severity=severity,
                      reason="intelligence report 17", added_at=T0, expires_at=expires_at)


def hits(events, watchlist, rules=RULES):
    return {k: f for k, f in expected_alerts(events, rules, watchlist=watchlist).items()
            if f.rule_id == "WATCHLIST_HIT"}


@pytest.mark.parametrize(("kind", "value", "subject_type", "event"), [
    ("DECLARANT", "DCL-W", "DECLARANT", lambda: ("declaration", declaration(declarant_id="DCL-W"))),
    ("IMPORTER", "IMP-W", "IMPORTER", lambda: ("declaration", declaration(importer_id="IMP-W"))),
    ("CONTAINER", "MSCU7777777", "CONTAINER",
     lambda: ("declaration", declaration(container_nos=["MSCU7777777"]))),
    ("HS_PREFIX", "8504", "SHIPMENT", lambda: ("declaration", declaration())),
    ("ORIGIN_COUNTRY", "CN", "SHIPMENT", lambda: ("declaration", declaration())),
    ("VEHICLE", "29H-99999", "VEHICLE", lambda: ("gate_event", gate_event(vehicle_plate="29H-99999"))),
    ("CONTAINER", "TGHU1234567", "CONTAINER", lambda: ("gate_event", gate_event(container_no="TGHU1234567"))),
    ("HS_PREFIX", "85", "SHIPMENT", lambda: ("manifest", manifest("BL-W"))),
    ("IMPORTER", "IMP-X", "IMPORTER", lambda: ("manifest", manifest("BL-W2"))),
])
def test_each_kind_of_entry_matches(kind, value, subject_type, event):
    (finding,) = hits([event()], watching(entry(kind, value))).values()
    assert (finding.subject_type, finding.severity) == (subject_type, "HIGH")
    assert "intelligence report 17" in finding.explanation
    assert finding.evidence[0].expected == "not on the watchlist"


def test_non_matching_values_and_prefixes_do_not_hit():
    watchlist = watching(entry("HS_PREFIX", "8505"), entry("DECLARANT", "DCL-OTHER"), entry("ORIGIN_COUNTRY", "KP"))
    assert hits([("declaration", declaration())], watchlist) == {}


def test_one_alert_per_entry_and_declaration_whatever_its_versions():
    decl = declaration(declarant_id="DCL-W")
    cleared = dict(decl, event_id=next_id("ev"), action="CLEARED", event_time=T0 + HOUR)
    assert len(hits([("declaration", decl), ("declaration", cleared)], watching(entry("DECLARANT", "DCL-W")))) == 1


def test_severity_comes_from_the_entry_and_expired_entries_stop_matching():
    watchlist = watching(entry("VEHICLE", "P-1", severity="LOW", expires_at=T0 + HOUR))
    (finding,) = hits([("gate_event", gate_event(vehicle_plate="P-1", event_time=T0))], watchlist).values()
    assert finding.severity == "LOW"
    assert hits([("gate_event", gate_event(vehicle_plate="P-1", event_time=T0 + HOUR))], watchlist) == {}


def test_removed_entries_and_a_disabled_rule_raise_nothing():
    watchlist = watching(entry("VEHICLE", "P-2"))
    watchlist.remove("VEHICLE:P-2")
    assert hits([("gate_event", gate_event(vehicle_plate="P-2"))], watchlist) == {}
    off = RULES.with_override(RuleConfig("WATCHLIST_HIT", enabled=False, severity="MEDIUM"))
    assert hits([("gate_event", gate_event(vehicle_plate="P-3"))], watching(entry("VEHICLE", "P-3")), off) == {}
