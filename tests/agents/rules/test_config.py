"""Typed access to rule parameters, and overrides that change them."""

from __future__ import annotations

import pytest

from agents.rules.config import RuleConfig, RuleConfigError, load_rule_book

RULES = load_rule_book()


def test_a_numeric_parameter_reads_as_a_float():
    value = RULES["SPLIT_SHIPMENT"].number("min_declarations")
    assert value == 4.0 and isinstance(value, float)


@pytest.mark.parametrize("name", ["high_severity", "no_such_parameter"])
def test_a_parameter_that_is_not_a_number_is_refused_by_name(name):
    with pytest.raises(RuleConfigError, match=f"MANIFEST_MISMATCH: parameter {name} must be a number"):
        RULES["MANIFEST_MISMATCH"].number(name)


def test_an_override_is_what_number_reads_afterwards():
    changed = RULES.with_override(RuleConfig("SPLIT_SHIPMENT", True, "HIGH", {"min_declarations": 7}))
    assert changed["SPLIT_SHIPMENT"].number("min_declarations") == 7.0
    assert changed["SPLIT_SHIPMENT"].number("de_minimis_usd") == RULES["SPLIT_SHIPMENT"].number("de_minimis_usd")
    assert RULES["SPLIT_SHIPMENT"].number("min_declarations") == 4.0
