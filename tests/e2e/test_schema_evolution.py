"""Schema evolution end to end, through a schema registry: a producer a version ahead, a consumer one behind.

The worker reads declarations written with a newer schema (an added optional
field) by resolving the writer schema the registry holds to its own; a
downstream consumer that still reads alerts with the first published alert
schema reads every alert the worker writes, by the same resolution.
"""

from __future__ import annotations

import io
import struct
from typing import Any

import fastavro
import pytest

import schemas
from agents.rules.config import load_rule_book
from streams.kafka.codec import CONFLUENT_MAGIC
from streams.kafka.topics import EVENT_KINDS, PUBLIC_TOPICS
from tests.conftest import newest_versions
from tests.oracle import expected_alerts
from tests.scenarios import build
from tests.schema_registry import schema_registry

pytestmark = pytest.mark.e2e

# What a producer one release ahead would send: the declaration with one more optional field.
NEWER_DECLARATION = schemas.load("declaration") | {"fields": [
    *schemas.load("declaration")["fields"],
    {"name": "broker_reference", "type": ["null", "string"], "default": None},
]}


def confluent_value(schema_id: int, schema: dict[str, Any], record: dict[str, Any]) -> bytes:
    body = io.BytesIO()
    fastavro.schemaless_writer(body, fastavro.parse_schema(schema), record)
    return CONFLUENT_MAGIC + struct.pack(">I", schema_id) + body.getvalue()


def test_declarations_of_a_newer_schema_are_read_and_an_old_alert_consumer_reads_the_alerts(deployment):
    with schema_registry() as registry:
        deployed = deployment(schema_registry_url=f"http://127.0.0.1:{registry.server_port}")
        deployed.start_worker()
        declarations_topic = deployed.names.public(EVENT_KINDS["declaration"])
        newer_id = registry.register(f"{declarations_topic}-value", NEWER_DECLARATION)

        scenario = build(seed=11)
        publisher = deployed.publisher
        for n, (kind, record) in enumerate(scenario.events):
            if kind == "declaration":
                value = confluent_value(newer_id, NEWER_DECLARATION, record | {"broker_reference": f"BR{n}"})
                key = str(record[PUBLIC_TOPICS[EVENT_KINDS[kind]].key]).encode()
                publisher.publish_raw(declarations_topic, key, value)
            else:
                publisher.publish(kind, record)
        publisher.flush()

        first_alert_schema = fastavro.parse_schema(schemas.history("alert")[1])
        writers: dict[int, Any] = {}

        def read_as_first_alert_version(value: bytes) -> dict[str, Any]:
            assert value[:1] == CONFLUENT_MAGIC, value[:8]
            schema_id = struct.unpack(">I", value[1:5])[0]
            if schema_id not in writers:
                writers[schema_id] = fastavro.parse_schema(registry.schemas[schema_id])
            alert: dict[str, Any] = fastavro.schemaless_reader(io.BytesIO(value[5:]), writers[schema_id],
                                                               first_alert_schema)
            return alert

        expected = expected_alerts(scenario.events, load_rule_book(), flush_after_ms=3_600_000)
        alerts = deployed.read_topic("alerts", "alert", reader=read_as_first_alert_version,
                                     until=lambda seen: set(newest_versions(seen)) >= set(expected),
                                     timeout_s=90, settle_s=3)
        newest = newest_versions(alerts)
        assert set(newest) == set(expected), deployed.workers[0].tail()
        for alert_id, finding in expected.items():
            assert (newest[alert_id]["rule_id"], newest[alert_id]["subject_id"]) == (
                finding.rule_id, finding.subject_id)
            # the first version has no declarant_id: the old reader simply does not see it
            assert "declarant_id" not in newest[alert_id]
        # the alerts were written with the current schema, not the one the consumer reads with
        assert [registry.schemas[schema_id] for schema_id in writers] == [schemas.load("alert")]
        assert deployed.workers[0].metric("cargoguard_dead_letters_total") == 0
