import itertools

import pytest

from agents.rules import split_shipment
from agents.rules.config import RuleConfig, load_rule_book
from agents.subjects import importer
from agents.subjects.common import Context
from tests.builders import HOUR, MINUTE, T0, declaration, next_id, parcel
from tests.oracle import Oracle, expected_alerts

RULES = load_rule_book()


def splits(events):
    return {k: f for k, f in expected_alerts([("declaration", e) for e in events], RULES).items()
            if f.rule_id == split_shipment.RULE_ID}


def test_four_parcels_under_de_minimis_summing_over_80_raise_one_alert():
    buyer = next_id("BUYER")
    events = [parcel(buyer, 25.0, T0 + i * HOUR) for i in range(4)]
    alerts = splits(events)
    assert len(alerts) == 1
    finding = next(iter(alerts.values()))
    assert finding.subject_type == "IMPORTER" and finding.subject_id == buyer
    assert finding.severity == "HIGH"
    assert finding.declaration_ids == tuple(e["declaration_id"] for e in events)
    assert finding.window_start == T0 and finding.window_end == T0 + 3 * HOUR
    assert "4 low-value consignments" in finding.explanation
    assert "USD 100.00" in finding.explanation


@pytest.mark.parametrize("case", ["three_parcels", "sum_exactly_80", "one_at_de_minimis",
                                  "fourth_at_24h", "standard_channel", "one_cancelled"])
def test_stays_silent_just_under_each_threshold(case):
    buyer = next_id("BUYER")
    values = [25.0, 25.0, 25.0, 25.0]
    times = [T0 + i * HOUR for i in range(4)]
    if case == "three_parcels":
        values, times = values[:3], times[:3]
    elif case == "sum_exactly_80":
        values = [20.0, 20.0, 20.0, 20.0]
    elif case == "one_at_de_minimis":
        values = [40.0, 25.0, 25.0, 25.0]
    elif case == "fourth_at_24h":
        times = [T0, T0 + HOUR, T0 + 2 * HOUR, T0 + 24 * HOUR]
    events = [parcel(buyer, v, t) for v, t in zip(values, times, strict=True)]
    if case == "standard_channel":
        events[0]["channel"] = "STANDARD"
    if case == "one_cancelled":
        cancelled = dict(events[0], event_id=next_id("ev"), action="CANCELLED", event_time=T0 + MINUTE)
        events.insert(1, cancelled)
    assert splits(events) == {}


def test_just_over_thresholds_fires():
    buyer = next_id("BUYER")
    events = [parcel(buyer, v, T0 + i * HOUR) for i, v in enumerate([20.0, 20.0, 20.0, 20.01])]
    events.append(parcel(next_id("OTHER"), 39.99, T0))
    assert len(splits(events)) == 1


def test_fourth_parcel_just_inside_24_hours_fires():
    buyer = next_id("BUYER")
    times = [T0, T0 + HOUR, T0 + 2 * HOUR, T0 + 24 * HOUR - 1]
    assert len(splits([parcel(buyer, 25.0, t) for t in times])) == 1


def test_express_counts_like_ecommerce_but_exports_do_not():
    buyer = next_id("BUYER")
    events = [parcel(buyer, 25.0, T0 + i * MINUTE, channel="EXPRESS") for i in range(4)]
    assert len(splits(events)) == 1
    buyer = next_id("BUYER")
    events = [parcel(buyer, 25.0, T0 + i * MINUTE, procedure="EXPORT") for i in range(4)]
    assert splits(events) == {}


def test_a_growing_cluster_updates_the_same_alert():
    buyer = next_id("BUYER")
    events = [parcel(buyer, 25.0, T0 + i * HOUR) for i in range(10)]
    oracle = Oracle(RULES)
    for event in events[:4]:
        oracle.feed("declaration", event)
    (first_id,) = oracle.alerts
    for event in events[4:]:
        oracle.feed("declaration", event)
    assert list(oracle.alerts) == [first_id]
    assert len(oracle.alerts[first_id].declaration_ids) == 10
    assert oracle.versions[first_id] == 7


def test_an_amendment_to_a_higher_value_takes_the_parcel_out():
    buyer = next_id("BUYER")
    events = [parcel(buyer, 25.0, T0 + i * HOUR) for i in range(4)]
    amended = dict(events[0], event_id=next_id("ev"), action="AMENDED", total_value_usd=45.0,
                   event_time=events[0]["event_time"] + MINUTE)
    assert splits(events[:1] + [amended] + events[1:]) == {}


def test_arrival_order_within_stream_time_does_not_change_the_alert():
    buyer = next_id("BUYER")
    events = [parcel(buyer, 25.0, T0 + i * MINUTE) for i in range(5)]
    later = declaration(event_time=T0 + 2 * HOUR)  # moves stream time past every parcel
    results = set()
    for order in itertools.permutations(events):
        oracle = Oracle(RULES)
        oracle.watermark = T0 - HOUR  # stream time behind the parcels, as on a busy feed
        for event in order:
            oracle.feed("declaration", event, advance=False)
        oracle.feed("declaration", later)
        alerts = {k: f for k, f in oracle.alerts.items() if f.rule_id == split_shipment.RULE_ID}
        results.add(tuple(sorted((k, f.declaration_ids) for k, f in alerts.items())))
    assert len(results) == 1
    ((_, members),) = results.pop()
    assert len(members) == 5


def test_late_parcel_joins_the_alert_already_raised():
    buyer = next_id("BUYER")
    events = [parcel(buyer, 25.0, T0 + i * MINUTE) for i in range(1, 5)]
    late = parcel(buyer, 25.0, T0)
    alerts = splits(events + [late])
    assert len(alerts) == 1
    assert late["declaration_id"] in next(iter(alerts.values())).declaration_ids


def test_rule_disabled_raises_nothing():
    rules = RULES.with_override(RuleConfig("SPLIT_SHIPMENT", enabled=False, severity="HIGH"))
    buyer = next_id("BUYER")
    events = [parcel(buyer, 25.0, T0 + i * HOUR) for i in range(4)]
    assert expected_alerts([("declaration", e) for e in events], rules) == {}


def test_find_clusters_merges_overlapping_windows_only():
    rules = RULES
    parcels = [split_shipment.Parcel(f"D{i}", f"e{i}", t, 25.0, "O", "AWB")
               for i, t in enumerate([0, HOUR, 2 * HOUR, 3 * HOUR, 4 * HOUR,
                                      100 * HOUR, 101 * HOUR, 102 * HOUR, 103 * HOUR])]
    clusters = split_shipment.find_clusters(parcels, rules)
    assert [len(c.parcels) for c in clusters] == [5, 4]
    assert clusters[1].anchor.declaration_id == "D5"



@pytest.mark.parametrize(("stream_ahead", "counted"), [(5 * MINUTE, True), (2 * HOUR, False)])
def test_a_parcel_arriving_beyond_the_allowed_lateness_counts_in_no_window(stream_ahead, counted):
    buyer = next_id("BUYER")
    on_time = [parcel(buyer, 25.0, T0 + i * HOUR) for i in range(3)]
    # Another importer's parcel moves stream time past the fourth parcel before it arrives.
    elsewhere = parcel(next_id("OTHER"), 10.0, T0 + 3 * HOUR + stream_ahead)
    fourth = parcel(buyer, 25.0, T0 + 3 * HOUR)
    assert len(splits([*on_time, elsewhere, fourth])) == (1 if counted else 0)


def test_an_importer_waits_for_stream_time_only_once_its_parcels_could_make_a_cluster():
    buyer = next_id("BUYER")
    parcels = [("decl", parcel(buyer, 25.0, T0 + i * HOUR)) for i in range(5)]
    before = Context(RULES, watermark=T0 - HOUR)
    state, outcome = importer.process(None, buyer, parcels[:3], before)
    assert outcome.next_due is None  # three parcels are never a cluster: no wake-up
    cancelled = ("decl", {**parcels[4][1], "action": "CANCELLED"})
    state, outcome = importer.process(state, buyer, [cancelled], before)
    assert outcome.next_due is None  # a cancelled one does not count
    state, outcome = importer.process(state, buyer, parcels[3:4], before)
    assert outcome.next_due == T0  # four could be: wake when the first settles
    state, outcome = importer.process(state, buyer, [], Context(RULES, watermark=T0 + 3 * HOUR))
    assert [f.rule_id for f in outcome.findings] == [split_shipment.RULE_ID]
    assert outcome.next_due is None
