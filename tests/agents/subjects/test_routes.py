"""Where the router sends events, and which subject kinds rest while their rules are disabled."""

from __future__ import annotations

import pytest

from agents.rules.config import RuleConfig, load_rule_book
from agents.subjects.routes import CONTAINERS, DECLARANTS, HS_CODES, IMPORTERS, SHIPMENTS, resting_kinds, routes_for
from tests.builders import declaration

RULES = load_rule_book()


def disabled(*rule_ids: str):
    book = RULES
    for rule_id in rule_ids:
        book = book.with_override(RuleConfig(rule_id, False, RULES[rule_id].severity))
    return book


def parcel_declaration():
    return declaration(channel="ECOMMERCE", total_value_usd=25.0, container_nos=["MSCU1234565"])


def test_with_every_rule_enabled_a_parcel_declaration_reaches_every_kind_but_scoring():
    kinds = {route.subject_kind for route in routes_for("declaration", parcel_declaration(), resting_kinds(RULES))}
    assert kinds == {SHIPMENTS, DECLARANTS, HS_CODES, IMPORTERS, CONTAINERS}


@pytest.mark.parametrize(("rule_ids", "resting"), [
    ((), set()),
    (("SPLIT_SHIPMENT",), {IMPORTERS}),
    (("AMENDMENT_CHURN",), set()),  # DECLARANT_SURGE still needs the declarants
    (("AMENDMENT_CHURN", "DECLARANT_SURGE"), {DECLARANTS}),
    (("UNDERVALUATION",), {HS_CODES}),
    # Shipments and containers serve most rules: they never rest.
    (("MANIFEST_MISMATCH", "EXIT_WITHOUT_CLEARANCE", "SEAL_BROKEN", "WEIGHBRIDGE_MISMATCH",
      "TRANSIT_OVERDUE", "TRANSIT_WRONG_OFFICE"), set()),
])
def test_a_kind_rests_when_every_rule_it_serves_is_disabled(rule_ids, resting):
    assert resting_kinds(disabled(*rule_ids)) == resting


def test_a_resting_kind_is_sent_nothing_and_the_others_are_sent_the_same():
    event = parcel_declaration()
    every = routes_for("declaration", event)
    rules = disabled("SPLIT_SHIPMENT", "AMENDMENT_CHURN", "DECLARANT_SURGE", "UNDERVALUATION")
    some = routes_for("declaration", event, resting_kinds(rules))
    assert some == [route for route in every if route.subject_kind in (SHIPMENTS, CONTAINERS)]
