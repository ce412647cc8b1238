import pytest

from streams.kafka.events_json import ConversionError, format_time, parse_time, to_avro_record, to_json_document
from tests.builders import T0, declaration


def test_iso_times_and_back():
    assert parse_time("2026-01-05T00:00:00Z", "t") == T0
    assert parse_time("2026-01-05T07:00:00+07:00", "t") == T0
    assert parse_time(T0, "t") == T0
    assert format_time(T0) == "2026-01-05T00:00:00.000Z"
    with pytest.raises(ConversionError, match="no time zone"):
        parse_time("2026-01-05T00:00:00", "event_time")


def test_round_trip_through_json():
    record = declaration(transit_deadline=None)
    document = to_json_document("declaration", record)
    assert document["event_time"] == "2026-01-05T00:00:00.000Z"
    assert to_avro_record("declaration", {**document, "kind": "declaration", "label": {}}) == record


@pytest.mark.parametrize(("change", "message"), [
    (lambda d: d.pop("gross_weight_kg"), "gross_weight_kg: missing"),
    (lambda d: d["items"][0].pop("hs_code"), r"items\[0\].hs_code: missing"),
    (lambda d: d.update(action="SHIPPED"), "action: 'SHIPPED' is not one of"),
    (lambda d: d.update(package_count="ten"), "package_count: expected a whole number"),
    (lambda d: d.update(gros_weight=1), "gros_weight: not a field of Declaration"),
    (lambda d: d.update(event_time="yesterday"), "event_time: 'yesterday' is not an ISO-8601 time"),
    (lambda d: d.update(importer_id=None), "importer_id: expected text, got None"),
    (lambda d: d.update(transit_deadline=None, destination_office=5), "destination_office: expected text"),
])
def test_errors_name_the_field(change, message):
    document = to_json_document("declaration", declaration())
    change(document)
    with pytest.raises(ConversionError, match=message):
        to_avro_record("declaration", document)
