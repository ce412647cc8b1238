import base64
import http.server
import io
import json
import struct
import threading

import fastavro
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import schemas
from streams.errors import TransientError, UndecodableEvent, UserError
from streams.kafka.codec import CONFLUENT_MAGIC, Codec, SchemaRegistry, schema_fingerprint
from streams.settings import Settings
from tests.builders import declaration, gate_event, manifest

CODEC = Codec()


def crc64_avro(data: bytes) -> int:
    """The Avro specification's reference CRC-64-AVRO, written out independently."""
    empty = 0xC15D213AA4D7A795
    table = []
    for i in range(256):
        fp = i
        for _ in range(8):
            fp = (fp >> 1) ^ (empty & -(fp & 1))
        table.append(fp)
    fp = empty
    for byte in data:
        fp = (fp >> 8) ^ table[(fp ^ byte) & 0xFF]
    return fp


@pytest.mark.parametrize("name", schemas.SCHEMA_NAMES)
def test_single_object_header_is_the_spec_fingerprint_of_the_canonical_form(name):
    canonical = fastavro.schema.to_parsing_canonical_form(fastavro.parse_schema(schemas.load(name)))
    expected = struct.pack("<Q", crc64_avro(canonical.encode()))
    assert schema_fingerprint(schemas.load(name)) == expected
    assert CODEC.fingerprint(name) == expected


def test_encoded_value_starts_with_c3_01_and_fingerprint():
    data = CODEC.encode("declaration", declaration())
    assert data[:2] == b"\xc3\x01"
    assert data[2:10] == CODEC.fingerprint("declaration")


text = st.text(min_size=1, max_size=20)
money = st.floats(min_value=0, max_value=1e9, allow_nan=False)
times = st.integers(min_value=946_684_800_000, max_value=4_102_444_800_000)


@settings(max_examples=60, deadline=None)
@given(event_id=text, declaration_id=text, value=money, weight=money, packages=st.integers(0, 10**6),
       time=times, containers=st.lists(text, max_size=4),
       action=st.sampled_from(["LODGED", "AMENDED", "CANCELLED", "CLEARED"]))
def test_declaration_round_trip(event_id, declaration_id, value, weight, packages, time, containers, action):
    record = declaration(event_id=event_id, declaration_id=declaration_id, total_value_usd=value,
                         gross_weight_kg=weight, package_count=packages, event_time=time,
                         container_nos=containers, action=action)
    assert CODEC.decode("declaration", CODEC.encode("declaration", record)) == record


@settings(max_examples=40, deadline=None)
@given(seal=st.sampled_from([None, True, False]), weight=st.none() | money, container=st.none() | text,
       time=times)
def test_gate_event_round_trip(seal, weight, container, time):
    record = gate_event("OUT", seal_intact=seal, cargo_weight_kg=weight, container_no=container,
                        event_time=time)
    assert CODEC.decode("gate_event", CODEC.encode("gate_event", record)) == record


def test_manifest_round_trip():
    record = manifest("BL1", hs_code=None)
    assert CODEC.decode("manifest", CODEC.encode("manifest", record)) == record


@pytest.mark.parametrize(("data", "reason"), [
    (b"", "empty value"),
    (b"\x01\x02\x03garbage", "not Avro single-object or Confluent framing"),
    (b"\xc3\x01" + b"\x00" * 8 + b"\x02", "schema fingerprint"),
])
def test_garbage_is_undecodable_with_a_reason(data, reason):
    with pytest.raises(UndecodableEvent, match=reason):
        CODEC.decode("declaration", data)


def test_another_schema_is_refused():
    data = CODEC.encode("manifest", manifest("BL1"))
    with pytest.raises(UndecodableEvent, match="is not the declaration schema"):
        CODEC.decode("declaration", data)


def test_truncated_and_padded_bodies_are_refused():
    data = CODEC.encode("declaration", declaration())
    with pytest.raises(UndecodableEvent, match="does not decode"):
        CODEC.decode("declaration", data[:-5])
    with pytest.raises(UndecodableEvent, match="left over"):
        CODEC.decode("declaration", data + b"\x00\x00")


def single_object(document, record):
    """``record`` framed as a producer still on ``document`` (a schema version) writes it."""
    body = io.BytesIO()
    fastavro.schemaless_writer(body, fastavro.parse_schema(document), record)
    return b"\xc3\x01" + schema_fingerprint(document) + body.getvalue()


ALERT_V1 = {
    "alert_id": "a-1", "rule_id": "EXIT_WITHOUT_CLEARANCE", "severity": "HIGH", "score": 70,
    "office_code": "KRPUS", "gate_id": "G1", "subject_type": "SHIPMENT", "subject_id": "BL-7",
    "declaration_ids": ["D1"], "transport_doc_no": "BL-7", "container_nos": ["MSCU1234567"],
    "event_time": 1_790_000_000_000, "detected_at": 1_790_000_001_000, "window_start": 1_789_999_000_000,
    "window_end": None, "explanation": "left the port before clearance",
    "evidence": [{"name": "cleared", "observed": "no", "expected": "yes"}],
    "trigger_event_ids": ["g-1"], "version": 3, "rule_version": 2,
}


def test_an_alert_written_with_the_first_alert_schema_decodes_into_the_current_one():
    first = schemas.history("alert")[1]
    assert {field["name"] for field in first["fields"]} == ALERT_V1.keys()
    decoded = CODEC.decode("alert", single_object(first, ALERT_V1))
    # what the first version carried, as written; what it lacked, at the current schema's defaults
    assert decoded == ALERT_V1 | {"declarant_id": None, "importer_id": None, "prior_alerts": 0}


def test_a_dead_letter_written_before_processing_failed_existed_decodes():
    first = schemas.history("dead_letter")[1]
    dead_letter = {"source_topic": "cargo.declarations", "source_partition": 2, "source_offset": 41,
                   "original_key": b"D1", "original_value": b"\x01", "error_kind": "INVALID",
                   "reason": "declaration D1: gross_weight_kg is -3.0, must be >= 0",
                   "failed_at": 1_790_000_000_000}
    assert CODEC.decode("dead_letter", single_object(first, dead_letter)) == dead_letter


def test_a_fingerprint_of_no_published_version_is_undecodable_naming_it():
    # a body the current schema reads, so only the fingerprint can be what is refused
    current = CODEC.encode("alert", ALERT_V1 | {"declarant_id": "DC1", "importer_id": None, "prior_alerts": 2})
    made_up = bytes.fromhex("0123456789abcdef")
    with pytest.raises(UndecodableEvent, match="fingerprint 0123456789abcdef is not the alert schema"):
        CODEC.decode("alert", current[:2] + made_up + current[10:])


class InMemoryRegistry(SchemaRegistry):
    """The registry's REST calls answered from a dict (the framing is what is tested here)."""

    def __init__(self):
        super().__init__("http://registry.invalid")
        self.subjects = {}

    def _call(self, method, path, body=None):
        import json
        if method == "POST":
            subject = path.split("/")[2]
            schema_id = 100 + len(self.subjects)
            self.subjects[subject] = (schema_id, json.loads(body["schema"]))
            return {"id": schema_id}
        schema_id = int(path.rsplit("/", 1)[1])
        for known_id, schema in self.subjects.values():
            if known_id == schema_id:
                return {"schema": json.dumps(schema)}
        raise AssertionError(path)


def test_confluent_framing_with_a_registry_and_both_framings_read():
    registry = InMemoryRegistry()
    codec = Codec(registry)
    record = declaration()
    data = codec.encode("declaration", record, topic="cargo.declarations")
    assert data[:1] == CONFLUENT_MAGIC
    schema_id = struct.unpack(">I", data[1:5])[0]
    assert registry.subjects["cargo.declarations-value"][0] == schema_id
    assert codec.decode("declaration", data) == record
    # a reader without registry config still reads single-object values
    assert codec.decode("declaration", CODEC.encode("declaration", record)) == record
    with pytest.raises(UndecodableEvent, match="no CARGOGUARD_SCHEMA_REGISTRY_URL"):
        CODEC.decode("declaration", data)


def test_confluent_writer_schema_is_resolved_to_ours():
    registry = InMemoryRegistry()
    older = schemas.load("manifest") | {"fields": [f for f in schemas.load("manifest")["fields"]
                                                   if f["name"] != "hs_code"]}
    schema_id = registry.register("cargo.manifests-value", older)
    body = io.BytesIO()
    record = manifest("BL9")
    del record["hs_code"]
    fastavro.schemaless_writer(body, fastavro.parse_schema(older), record)
    data = CONFLUENT_MAGIC + struct.pack(">I", schema_id) + body.getvalue()
    decoded = Codec(registry).decode("manifest", data)
    assert decoded["hs_code"] is None and decoded["transport_doc_no"] == "BL9"


class RegistryAnswering(http.server.BaseHTTPRequestHandler):
    """A registry that knows no schema id and is overloaded for everything else."""

    def do_GET(self):
        self.send_response(404 if self.path.startswith("/schemas/ids/") else 503)
        self.end_headers()
        self.wfile.write(b'{"error_code": 40403, "message": "Schema not found"}')

    def log_message(self, *args):
        pass


@pytest.fixture
def registry_url():
    server = http.server.HTTPServer(("127.0.0.1", 0), RegistryAnswering)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}"
    server.shutdown()


def test_a_schema_id_the_registry_does_not_know_is_undecodable_but_an_overloaded_registry_is_transient(
        registry_url):
    data = CONFLUENT_MAGIC + struct.pack(">I", 4242) + b"\x00"
    with pytest.raises(UndecodableEvent, match="schema id 4242 is not in the registry"):
        Codec(SchemaRegistry(registry_url)).decode("declaration", data)
    with pytest.raises(TransientError, match="503"):
        SchemaRegistry(registry_url)._call("GET", "/subjects")


class RegistryWithBasicAuth(http.server.BaseHTTPRequestHandler):
    """A registry that serves the declaration schema as id 7 to the holder of key:secret only."""

    def do_GET(self):
        expected = "Basic " + base64.b64encode(b"key:secret").decode()
        if self.headers.get("Authorization") != expected:
            self.send_response(401)
            self.end_headers()
            return
        self.send_response(200)
        self.end_headers()
        self.wfile.write(json.dumps({"schema": json.dumps(schemas.load("declaration"))}).encode())

    def log_message(self, *args):
        pass


def test_the_registry_client_sends_the_configured_credentials():
    server = http.server.HTTPServer(("127.0.0.1", 0), RegistryWithBasicAuth)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        url = f"http://127.0.0.1:{server.server_port}"
        body = io.BytesIO()
        record = declaration()
        fastavro.schemaless_writer(body, fastavro.parse_schema(schemas.load("declaration")), record)
        data = CONFLUENT_MAGIC + struct.pack(">I", 7) + body.getvalue()
        signed_in = Codec.for_settings(Settings(schema_registry_url=url, schema_registry_username="key",
                                                schema_registry_password="secret"))
        assert signed_in.decode("declaration", data) == record
        with pytest.raises(UserError, match="401"):
            Codec.for_settings(Settings(schema_registry_url=url)).decode("declaration", data)
    finally:
        server.shutdown()


def test_only_confluent_values_with_an_uncached_writer_schema_are_left_to_fetch():
    registry = InMemoryRegistry()
    codec = Codec(registry)
    known = codec.encode("declaration", declaration(), topic="cargo.declarations")  # registers, so cached
    unknown = CONFLUENT_MAGIC + struct.pack(">I", 999) + b"\x00"
    single_object = CODEC.encode("declaration", declaration())
    assert codec.uncached_schema_ids([known, unknown, single_object, None, b"\x00"]) == {999}
    assert CODEC.uncached_schema_ids([unknown]) == set()  # no registry: nothing to fetch
