import itertools
import random
import statistics

import orjson
import pytest

from agents.rules import undervaluation
from agents.rules.config import RuleConfig, load_rule_book
from agents.rules.reference_prices import PriceTableError, parse_price_table, shipped_price_table
from agents.rules.undervaluation import PricedLine, Reference
from agents.subjects import hs_code
from agents.subjects.common import Context
from tests.builders import HOUR, MINUTE, T0, declaration, next_id
from tests.oracle import Oracle, expected_alerts

RULES = load_rule_book()
TABLE = shipped_price_table()
HS6 = "851713"  # smartphones: 600 USD/kg in the shipped table
REFERENCE = TABLE.get(HS6).usd_per_kg


def phones(kg, usd_per_kg, when=T0, **fields):
    value = round(kg * usd_per_kg, 2)
    return declaration(event_time=when, total_value_usd=value, items=[{
        "hs_code": HS6 + "00", "description": "smartphones", "origin_country": "CN", "quantity": 10.0,
        "unit": "pcs", "net_weight_kg": kg, "value_usd": value}], **fields)


def undervalued(events, flush_after_ms=HOUR):
    alerts = expected_alerts([("declaration", e) for e in events], RULES, flush_after_ms=flush_after_ms)
    return {k: f for k, f in alerts.items() if f.rule_id == undervaluation.RULE_ID}


def line(unit_value, kg=10.0):
    return PricedLine(declaration_id="D1", event_id="ev1", event_time=T0, hs6=HS6, description="smartphones",
                      net_weight_kg=kg, value_usd=unit_value * kg, office_code="VNSGN01", transport_doc_no="BL1",
                      declarant_id="DCL-1", importer_id="IMP-1", container_nos=())


# --- the rule: thresholds ------------------------------------------------------------

@pytest.mark.parametrize(("share", "fires"), [(0.29, True), (0.2999, True), (0.3, False), (0.31, False)])
def test_fires_only_below_three_tenths_of_the_reference(share, fires):
    reference = Reference(REFERENCE, "test")
    assert (undervaluation.evaluate(line(share * REFERENCE), reference, RULES) is not None) is fires


def test_no_weight_and_no_reference_give_no_finding():
    assert undervaluation.evaluate(line(10.0, kg=0.0), Reference(REFERENCE, "test"), RULES) is None
    assert undervaluation.evaluate(line(10.0), None, RULES) is None


def test_finding_names_the_shipment_and_explains_the_reference():
    finding = undervaluation.evaluate(line(60.0), Reference(REFERENCE, "reference table (test, 2026)"), RULES)
    assert (finding.subject_type, finding.subject_id, finding.severity) == ("SHIPMENT", "BL1", "MEDIUM")
    assert "USD 60.00 per kg" in finding.explanation and "10.0 %" in finding.explanation
    assert {e.name: e.observed for e in finding.evidence}["reference_source"] == "reference table (test, 2026)"
    assert finding.alert_id == undervaluation.evaluate(line(50.0), Reference(REFERENCE, "x"), RULES).alert_id


def test_reference_comes_from_the_table_until_thirty_observations_then_from_their_median():
    assert undervaluation.reference_for(HS6, [1.0] * 29, TABLE, RULES).usd_per_kg == REFERENCE
    learned = undervaluation.reference_for(HS6, [100.0] * 15 + [200.0] * 15, TABLE, RULES)
    assert learned.usd_per_kg == 150.0 and "median of the last 30" in learned.origin
    assert undervaluation.reference_for("999999", [], TABLE, RULES) is None


def test_a_disabled_rule_finds_nothing():
    disabled = RULES.with_override(RuleConfig(rule_id=undervaluation.RULE_ID, enabled=False, severity="MEDIUM"))
    assert undervaluation.evaluate(line(1.0), Reference(REFERENCE, "t"), disabled) is None


# --- the HS code subject: in the stream --------------------------------------------

def test_an_undervalued_declaration_raises_one_alert_on_its_shipment():
    cheap = phones(10.0, 50.0)
    alerts = undervalued([phones(5.0, 650.0, T0 - HOUR), cheap])
    assert [(f.subject_id, f.declaration_ids) for f in alerts.values()] == \
        [(cheap["transport_doc_no"], (cheap["declaration_id"],))]


def test_goods_at_a_normal_price_raise_nothing():
    assert undervalued([phones(10.0, REFERENCE * factor, T0 + n * MINUTE)
                        for n, factor in enumerate([0.6, 0.9, 1.0, 1.4])]) == {}


def test_same_alerts_in_every_arrival_order():
    events = [phones(10.0, 550.0 + n, T0 + n * MINUTE) for n in range(31)]
    events.append(phones(8.0, 40.0, T0 + 40 * MINUTE))
    expected = set(undervalued(events))
    assert len(expected) == 1
    for order in itertools.islice(itertools.permutations(events[-4:]), 6):
        assert set(undervalued(events[:-4] + list(order))) == expected
    assert set(undervalued(list(reversed(events)))) == expected


def test_the_learned_median_replaces_the_table_after_thirty_declarations():
    # This stream prices phones at 100 USD/kg; the table says 600. At 50 USD/kg a
    # phone is undervalued against the table but not against what the stream learned.
    market = [phones(10.0, 100.0, T0 + n * MINUTE) for n in range(30)]
    assert len(undervalued(market)) == 30  # each judged against the table while it still applies
    late = phones(10.0, 50.0, T0 + HOUR)
    assert late["declaration_id"] not in {f.declaration_ids[0] for f in undervalued(market + [late]).values()}
    very_cheap = phones(10.0, 20.0, T0 + HOUR)
    assert very_cheap["declaration_id"] in {f.declaration_ids[0] for f in undervalued(market + [very_cheap]).values()}


def test_an_amendment_still_too_low_updates_the_same_alert_and_a_fix_raises_nothing_new():
    original = phones(10.0, 50.0)
    still_low = dict(original, event_id=next_id("ev-d"), event_time=T0 + MINUTE, action="AMENDED",
                     items=[dict(original["items"][0], value_usd=800.0)])
    oracle = Oracle(RULES)
    for event in (original, still_low):
        oracle.feed("declaration", event)
    oracle.advance(T0 + HOUR)
    [(alert_id, finding)] = [(k, f) for k, f in oracle.alerts.items() if f.rule_id == undervaluation.RULE_ID]
    assert oracle.versions[alert_id] == 2 and "USD 80.00 per kg" in finding.explanation

    fixed = dict(original, event_id=next_id("ev-d"), event_time=T0 + 2 * MINUTE, action="AMENDED",
                 items=[dict(original["items"][0], value_usd=6_000.0)])
    oracle.feed("declaration", fixed)
    oracle.advance(T0 + 2 * HOUR)
    assert oracle.versions[alert_id] == 2


def test_the_clearance_repeating_the_lodged_values_raises_no_new_version():
    lodged = phones(10.0, 50.0)
    cleared = dict(lodged, event_id=next_id("ev-d"), event_time=T0 + 30 * MINUTE, action="CLEARED")
    oracle = Oracle(RULES)
    oracle.feed("declaration", lodged)
    oracle.advance(T0 + 10 * MINUTE)
    oracle.feed("declaration", cleared)
    oracle.advance(T0 + HOUR)
    assert sorted(oracle.versions.values()) == [1]


def test_a_declaration_cancelled_before_stream_time_reaches_it_is_not_judged():
    lodged = phones(10.0, 50.0, T0 + 10 * MINUTE)
    cancelled = dict(lodged, event_id=next_id("ev-d"), event_time=T0 + 11 * MINUTE, action="CANCELLED")
    assert undervalued([cancelled, lodged]) == {}


def test_one_cheap_item_is_found_among_dear_items_of_the_same_code():
    def phone_item(kg, usd):
        return {"hs_code": "85171300", "description": "phones", "origin_country": "CN", "quantity": 1.0,
                "unit": "pcs", "net_weight_kg": kg, "value_usd": usd}

    record = declaration(items=[
        phone_item(5.0, 3_000.0), phone_item(5.0, 100.0), phone_item(5.0, 3_000.0),  # 20 USD/kg in the middle
        {"hs_code": "61091000", "description": "t-shirts", "origin_country": "CN", "quantity": 9.0, "unit": "pcs",
         "net_weight_kg": 10.0, "value_usd": 150.0},
    ])
    [finding] = undervalued([record]).values()
    assert "an item of HS 851713 (phones) at USD 20.00 per kg" in finding.explanation


def test_the_sample_learns_each_declarations_mean_price_for_the_code():
    record = declaration(items=[
        {"hs_code": "85171300", "description": "phones", "origin_country": "CN", "quantity": 1.0, "unit": "pcs",
         "net_weight_kg": 1.0, "value_usd": 100.0},
        {"hs_code": "85171300", "description": "phones", "origin_country": "CN", "quantity": 1.0, "unit": "pcs",
         "net_weight_kg": 3.0, "value_usd": 2_300.0},
    ])
    lines = [("line", line) for line in hs_code.priced_lines(record).values()]
    state, _ = hs_code.process(None, HS6, lines, Context(RULES, T0))
    assert state.sample[record["declaration_id"]][2] == 600.0


# --- the shipped table -----------------------------------------------------------------

def test_the_shipped_table_says_where_its_figures_come_from():
    assert TABLE.source and TABLE.as_of and len(TABLE.prices) >= 40
    assert all(len(hs6) == 6 and price.usd_per_kg > 0 for hs6, price in TABLE.prices.items())


@pytest.mark.parametrize(("body", "message"), [
    ("hs6,usd_per_kg,description\n12345,1.0,x\n", "not six digits"),
    ("hs6,usd_per_kg,description\n123456,cheap,x\n", "not a number"),
    ("hs6,usd_per_kg,description\n123456,-1,x\n", "must be positive"),
    ("hs6,usd_per_kg,description\n123456,1,x\n123456,2,y\n", "appears twice"),
    ("hs6,price\n", "header"),
])
def test_a_bad_table_is_refused_naming_the_row(body, message):
    with pytest.raises(PriceTableError, match=message):
        parse_price_table("# source: test\n# as_of: 2026-01-01\n" + body, "prices.csv")


def test_a_table_without_provenance_is_refused():
    with pytest.raises(PriceTableError, match="source"):
        parse_price_table("hs6,usd_per_kg,description\n123456,1,x\n", "prices.csv")


def test_the_learned_sample_keeps_only_the_last_sample_size_declarations():

    size = int(RULES[undervaluation.RULE_ID].number("sample_size"))
    state = None
    records = [phones(10.0, 500.0, T0 + n * MINUTE) for n in range(size + 25)]
    for record in records:
        lines = [("line", line) for line in hs_code.priced_lines(record).values()]
        state, _ = hs_code.process(state, HS6, lines, Context(RULES, record["event_time"]))
    assert len(state.sample) == size
    assert next(iter(state.sample)) == records[25]["declaration_id"]


def test_a_disabled_rule_neither_judges_nor_learns():

    disabled = RULES.with_override(RuleConfig(rule_id=undervaluation.RULE_ID, enabled=False, severity="MEDIUM"))
    record = phones(10.0, 1.0)
    lines = [("line", line) for line in hs_code.priced_lines(record).values()]
    state, outcome = hs_code.process(None, HS6, lines, Context(disabled, T0))
    assert outcome.findings == [] and hs_code.is_empty(state)


def test_the_median_of_an_ascending_sequence_is_the_statistics_median():
    rng = random.Random(3)
    for size in (1, 2, 3, 10, 11, 200):
        values = sorted(rng.uniform(0.1, 1_000.0) for _ in range(size))
        assert undervaluation.sorted_median(values) == statistics.median(values)


def test_the_sorted_unit_values_follow_the_sample_through_eviction_cancellation_and_reload():
    size = int(RULES[undervaluation.RULE_ID].number("sample_size"))
    rng = random.Random(5)
    records = [phones(10.0, rng.choice([300.0, 450.0, 600.0, 900.0]), T0 + n * MINUTE) for n in range(size + 40)]
    cancelled = {**records[size + 10], "event_id": next_id("ev-c"), "action": "CANCELLED",
                 "event_time": records[size + 10]["event_time"] + 30_000}
    state = None
    for record in [*records[: size + 11], cancelled, *records[size + 11:]]:
        lines = [("line", line) for line in hs_code.priced_lines(record).values()]
        state, _ = hs_code.process(state, HS6, lines, Context(RULES, record["event_time"]))
    in_sample = sorted(entry[2] for entry in state.sample.values() if entry[2] is not None)
    assert state.learned == in_sample and len(in_sample) == size - 1
    stored = orjson.loads(orjson.dumps(state))
    assert set(stored) == {"hs6", "pending", "sample", "raised", "v"}
    assert hs_code.HsCodeState.from_doc(stored).learned == in_sample
