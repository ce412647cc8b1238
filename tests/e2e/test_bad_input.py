"""Poison input lands in the dead-letter topic with its bytes and a reason; the worker goes on."""

import io

import fastavro
import pytest

import schemas
from streams.kafka.codec import Codec
from streams.runtime.control import change_rule
from streams.tools.users import add_user
from tests.builders import declaration, gate_event, manifest, next_id
from tests.conftest import newest_versions
from tests.e2e.test_web import seal_and_mismatch
from tests.web_client import ControlRoomClient

pytestmark = pytest.mark.e2e


def test_each_kind_of_bad_input_is_dead_lettered_and_processing_continues(deployment):
    deployed = deployment()
    deployed.start_worker()
    codec = Codec()
    topic = deployed.names.public("declarations")

    without_importer = schemas.load("declaration") | {
        "fields": [f for f in schemas.load("declaration")["fields"] if f["name"] != "importer_id"]}
    body = io.BytesIO()
    record = declaration(declaration_id="D-MISSING")
    del record["importer_id"]
    fastavro.schemaless_writer(body, fastavro.parse_schema(without_importer), record)
    missing_field = codec.encode("declaration", declaration())[:10] + body.getvalue()

    bad = {
        b"garbage": b'{"declaration_id": "D1", "note": "JSON, not Avro"}',
        b"wrong-schema": codec.encode("manifest", manifest("BL-X")),
        b"missing-field": missing_field,
        b"negative-weight": codec.encode("declaration", declaration(declaration_id="D1059",
                                                                    gross_weight_kg=-3.0)),
    }
    for key, value in bad.items():
        deployed.publisher.publish_raw(topic, key, value)
    # A good event after the bad ones, on the same topic: a seal alert proves it was processed.
    doc = next_id("BL")
    deployed.publish([("declaration", declaration(transport_doc_no=doc)),
                      ("gate_event", gate_event("IN", transport_doc_no=doc, seal_intact=False))])

    letters = deployed.read_topic("dead_letter", "dead_letter", until=lambda seen: len(seen) >= len(bad),
                                  timeout_s=60, settle_s=2)
    by_key = {letter["original_key"]: letter for letter in letters}
    assert set(by_key) == set(bad), deployed.workers[0].tail()
    for key, value in bad.items():
        letter = by_key[key]
        assert letter["original_value"] == value
        assert letter["source_topic"] == topic
        assert letter["source_offset"] >= 0
    assert by_key[b"garbage"]["error_kind"] == "UNDECODABLE"
    assert "not Avro single-object or Confluent framing" in by_key[b"garbage"]["reason"]
    assert "is not the declaration schema" in by_key[b"wrong-schema"]["reason"]
    assert by_key[b"missing-field"]["error_kind"] == "UNDECODABLE"
    assert by_key[b"negative-weight"]["error_kind"] == "INVALID"
    assert by_key[b"negative-weight"]["reason"].startswith("declaration D1059 (event ")
    assert "gross_weight_kg is -3.0, must be >= 0" in by_key[b"negative-weight"]["reason"]

    alerts = deployed.read_topic("alerts", "alert", until=lambda seen: len(seen) >= 1, timeout_s=60)
    (alert,) = newest_versions(alerts).values()
    assert (alert["rule_id"], alert["subject_id"]) == ("SEAL_BROKEN", doc)


def test_garbage_on_the_control_and_alert_topics_is_dead_lettered_and_every_follower_goes_on(deployment):
    deployed = deployment()
    names = deployed.names
    # Before the worker starts: it must still start, with the garbage skipped.
    deployed.publisher.publish_raw(names.public("rules"), b"SEAL_BROKEN", b"not a rule record")
    deployed.publisher.publish_raw(names.public("watchlist"), b"W-BAD", b"not a watchlist entry")
    deployed.publisher.publish_raw(names.public("users"), b"U-BAD", b"not a user")
    deployed.publisher.flush()
    add_user(deployed.settings, "sam", "supervisor", [], "correct horse battery")
    worker = deployed.start_worker()
    # While it runs: garbage first, then good records behind it on the same topics.
    deployed.publisher.publish_raw(names.public("rules"), b"SPLIT_SHIPMENT", b"\xc3\x01junk")
    deployed.publisher.publish_raw(names.public("alerts"), b"A-BAD", b"not an alert")
    deployed.publisher.flush()
    changed = change_rule(deployed.settings, "SPLIT_SHIPMENT", assignments=["min_declarations=5"], updated_by="test")
    worker.wait_rule_version("SPLIT_SHIPMENT", changed.version)
    doc_seal, _ = seal_and_mismatch(deployed)

    letters = deployed.read_topic("dead_letter", "dead_letter", until=lambda seen: len(seen) >= 5,
                                  timeout_s=60, settle_s=2)
    by_key = {letter["original_key"]: letter for letter in letters}
    assert set(by_key) == {b"SEAL_BROKEN", b"W-BAD", b"U-BAD", b"SPLIT_SHIPMENT", b"A-BAD"}, worker.tail()
    assert by_key[b"U-BAD"]["source_topic"] == names.public("users")
    assert by_key[b"SEAL_BROKEN"]["source_topic"] == names.public("rules")
    assert by_key[b"W-BAD"]["source_topic"] == names.public("watchlist")
    assert by_key[b"A-BAD"]["source_topic"] == names.public("alerts")
    assert {letter["error_kind"] for letter in letters} == {"UNDECODABLE"}
    assert by_key[b"SPLIT_SHIPMENT"]["original_value"] == b"\xc3\x01junk"
    # The control room's alert tail read past its garbage: the alerts raised after it show.
    client = ControlRoomClient(worker.url)
    assert client.sign_in("sam", "correct horse battery") == 303  # the users topic was read past its garbage
    shown = client.wait_json("/control-room/api/alerts?since=0",
                             lambda d: doc_seal in {alert["subject_id"] for alert in d["alerts"]})
    assert doc_seal in {alert["subject_id"] for alert in shown["alerts"]}
