import math

import pytest

from streams.errors import InvalidEvent
from streams.kafka.validation import validate
from tests.builders import HOUR, T0, declaration, gate_event, manifest

LATEST = T0 + 24 * HOUR


@pytest.mark.parametrize(("fields", "reason"), [
    ({"gross_weight_kg": -3.0}, "gross_weight_kg is -3.0, must be >= 0"),
    ({"total_value_usd": math.inf}, "total_value_usd is inf, must be a finite number"),
    ({"importer_id": " "}, "importer_id is empty"),
    ({"event_time": 1_700_000_000}, "before 2000-01-01"),
    ({"event_time": LATEST + 1}, "too far in the future"),
    ({"procedure": "TRANSIT"}, "destination_office is missing for TRANSIT"),
    ({"destination_office": "X"}, "only TRANSIT has one"),
])
def test_declaration_problems_name_the_event_and_field(fields, reason):
    record = declaration(declaration_id="D1059", event_id="e-7", **fields)
    with pytest.raises(InvalidEvent, match=reason) as caught:
        validate("declaration", record, LATEST)
    assert caught.value.reason.startswith("declaration D1059 (event e-7): ")


def test_item_problems_name_the_item():
    record = declaration()
    record["items"][0]["hs_code"] = "12AB"
    record["items"][0]["origin_country"] = "china"
    with pytest.raises(InvalidEvent, match=r"items\[0\].hs_code '12AB' is not 6-10 digits; "
                                           r"items\[0\].origin_country 'china'"):
        validate("declaration", record, LATEST)


def test_valid_events_pass():
    validate("declaration", declaration(), LATEST)
    validate("declaration", declaration(procedure="TRANSIT", destination_office="VNHAN01",
                                        transit_deadline=T0 + 48 * HOUR), LATEST)
    validate("manifest", manifest("BL1"), LATEST)
    validate("gate_event", gate_event(), LATEST)


def test_manifest_and_gate_problems():
    with pytest.raises(InvalidEvent, match="package_count is -1"):
        validate("manifest", manifest("BL1", package_count=-1), LATEST)
    with pytest.raises(InvalidEvent, match="container_no is empty"):
        validate("gate_event", gate_event(container_no=""), LATEST)
    with pytest.raises(InvalidEvent, match=r"cargo_weight_kg is -1\.0"):
        validate("gate_event", gate_event(cargo_weight_kg=-1.0), LATEST)


@pytest.mark.parametrize(("fields", "reason"), [
    ({"gross_weight_kg": 1e30}, r"gross_weight_kg is 1e\+30, more than 1e\+09"),
    ({"total_value_usd": math.nan}, "total_value_usd is nan, must be a finite number"),
    ({"package_count": -5}, "package_count is -5, must be >= 0"),
    ({"declarant_id": "X" * 2_000_000}, r"declarant_id 'XXX.*\.\.\. \(2,000,002 chars\) is longer than 100"),
    ({"container_nos": ["C"] * 1000}, "container_nos has 1,000 entries, at most 999"),
    ({"container_nos": ["MSCU1", " "]}, r"container_nos\[1\] ' ' is empty"),
])
def test_hostile_sizes_and_numbers_are_refused_with_a_short_reason(fields, reason):
    record = declaration(declaration_id="D1", event_id="e-1", **fields)
    with pytest.raises(InvalidEvent, match=reason) as caught:
        validate("declaration", record, LATEST)
    assert len(caught.value.reason) < 300


def test_a_hostile_id_is_cut_in_the_reason_that_names_the_event():
    record = declaration(declaration_id="<img src=x>" * 100_000, gross_weight_kg=-1.0)
    with pytest.raises(InvalidEvent) as caught:
        validate("declaration", record, LATEST)
    assert caught.value.reason.startswith(
        "declaration '<img src=x><img src=x><img src=x><img s... (1,100,002 chars) (event ")
    assert len(caught.value.reason) < 400


def test_too_many_items_are_refused_without_checking_each():
    record = declaration()
    record["items"] = [dict(record["items"][0], hs_code="bad")] * 100_000
    with pytest.raises(InvalidEvent) as caught:
        validate("declaration", record, LATEST)
    assert caught.value.reason.endswith("items has 100,000 entries, at most 999 are allowed")


def test_long_manifest_text_and_gate_seal_are_refused():
    with pytest.raises(InvalidEvent, match=r"goods_description 'xxx.* is longer than 4,000 characters"):
        validate("manifest", manifest("BL1", goods_description="x" * 4001), LATEST)
    with pytest.raises(InvalidEvent, match=r"seal_no .* is longer than 100 characters"):
        validate("gate_event", gate_event(seal_no="S" * 101), LATEST)
