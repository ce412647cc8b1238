"""Avro encoding, decoding and framing: the only module that touches value bytes.

Two framings, both read on every input topic:

- Avro single-object encoding (the default): ``C3 01``, the 8-byte
  little-endian CRC-64-AVRO fingerprint of the schema's parsing canonical
  form, then the Avro binary body. The fingerprint of any published version
  of the schema (``schemas/history``) is read, resolved to the current one.
- Confluent wire format (when a schema registry is configured): ``00``, the
  4-byte big-endian schema id, then the body; schemas are registered under
  the ``<topic>-value`` subject.

Decoding yields plain dicts. Timestamps stay integers (epoch milliseconds):
the schemas mark them ``timestamp-millis``, which does not change the binary
form, and skipping the conversion to ``datetime`` keeps the hot path cheap.
"""

from __future__ import annotations

import base64
import io
import json
import ssl
import struct
import threading
import urllib.error
import urllib.request
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import fastavro
from fastavro.schema import fingerprint, to_parsing_canonical_form

import schemas
from streams.errors import TransientError, UndecodableEvent, UserError
from streams.settings import Settings

SINGLE_OBJECT_MAGIC = b"\xc3\x01"
CONFLUENT_MAGIC = b"\x00"
_SINGLE_OBJECT_HEADER = 10
_CONFLUENT_HEADER = 5


def _without_logical_types(node: Any) -> Any:
    """Copy a schema, dropping ``logicalType`` so timestamps read as ints."""
    if isinstance(node, dict):
        return {k: _without_logical_types(v) for k, v in node.items() if k != "logicalType"}
    if isinstance(node, list):
        return [_without_logical_types(v) for v in node]
    return node


def schema_fingerprint(schema: Mapping[str, Any]) -> bytes:
    """The 8-byte little-endian CRC-64-AVRO fingerprint of a schema."""
    canonical = to_parsing_canonical_form(fastavro.parse_schema(dict(schema)))
    return bytes.fromhex(fingerprint(canonical, "CRC-64-AVRO"))


class SchemaRegistry:
    """A minimal client of the Confluent schema registry REST API (stdlib HTTP)."""

    def __init__(self, url: str, timeout_s: float = 10.0, username: str | None = None,
                 password: str | None = None, cafile: Path | None = None) -> None:
        self.url = url.rstrip("/")
        self.timeout_s = timeout_s
        self._headers = {"Content-Type": "application/vnd.schemaregistry.v1+json"}
        if username is not None:
            token = base64.b64encode(f"{username}:{password or ''}".encode()).decode()
            self._headers["Authorization"] = f"Basic {token}"
        self._tls = ssl.create_default_context(cafile=str(cafile) if cafile else None)
        self._ids_by_subject: dict[tuple[str, str], int] = {}
        self._schemas_by_id: dict[int, dict[str, Any]] = {}
        self._lock = threading.Lock()

    def _call(self, method: str, path: str, body: Mapping[str, Any] | None = None) -> Any:
        data = json.dumps(body).encode() if body is not None else None
        request = urllib.request.Request(
            self.url + path,
            data=data,
            method=method,
            headers=self._headers,
        )
        try:
            context = self._tls if self.url.startswith("https:") else None
            with urllib.request.urlopen(request, timeout=self.timeout_s, context=context) as response:
                return json.loads(response.read())
        except urllib.error.HTTPError as exc:
            detail = exc.read().decode(errors="replace")[:200]
            if exc.code >= 500:
                raise TransientError(f"schema registry {method} {path}: {exc.code} {detail}") from exc
            if exc.code == 404 and path.startswith("/schemas/ids/"):
                # An id no one registered: the value cannot be read, whoever retries.
                raise UndecodableEvent(f"schema id {path.rsplit('/', 1)[-1]} is not in the registry") from exc
            raise UserError(f"schema registry {method} {path}: {exc.code} {detail}") from exc
        except OSError as exc:
            raise TransientError(f"schema registry at {self.url} unreachable: {exc}") from exc

    def register(self, subject: str, schema: Mapping[str, Any]) -> int:
        """Register ``schema`` under ``subject`` (idempotent) and return its id."""
        canonical = json.dumps(schema, sort_keys=True)
        key = (subject, canonical)
        with self._lock:
            if key in self._ids_by_subject:
                return self._ids_by_subject[key]
        reply = self._call("POST", f"/subjects/{subject}/versions", {"schema": json.dumps(schema)})
        schema_id = int(reply["id"])
        with self._lock:
            self._ids_by_subject[key] = schema_id
            self._schemas_by_id[schema_id] = dict(schema)
        return schema_id

    def knows(self, schema_id: int) -> bool:
        """Whether the schema with this id is cached (reading it needs no request)."""
        with self._lock:
            return schema_id in self._schemas_by_id

    def schema(self, schema_id: int) -> dict[str, Any]:
        """The writer schema with this id (cached: ids are immutable)."""
        with self._lock:
            if schema_id in self._schemas_by_id:
                return self._schemas_by_id[schema_id]
        reply = self._call("GET", f"/schemas/ids/{schema_id}")
        parsed: dict[str, Any] = json.loads(reply["schema"])
        with self._lock:
            self._schemas_by_id[schema_id] = parsed
        return parsed


class _SchemaCodec:
    """Encoder and decoders of one schema."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.document = schemas.load(name)
        self.plain = fastavro.parse_schema(_without_logical_types(self.document))
        self.header = SINGLE_OBJECT_MAGIC + schema_fingerprint(self.document)
        self.fingerprint = self.header[2:]
        # Fingerprint of each earlier published version -> that parsed writer
        # schema, so values still in a topic from before a change stay readable.
        self.older: dict[bytes, Any] = {
            schema_fingerprint(document): fastavro.parse_schema(_without_logical_types(document))
            for document in schemas.history(name).values()
        }
        # Confluent schema id -> parsed writer schema, for resolution to ours.
        self.writers: dict[int, Any] = {}


class Codec:
    """Encodes and decodes every cargoguard topic value.

    With a ``registry``, ``encode`` writes the Confluent framing under the
    ``<topic>-value`` subject; without, single-object encoding. ``decode``
    reads either.
    """

    def __init__(self, registry: SchemaRegistry | None = None) -> None:
        self.registry = registry
        self._codecs = {name: _SchemaCodec(name) for name in schemas.SCHEMA_NAMES}
        self._registered: dict[tuple[str, str], bytes] = {}

    @classmethod
    def for_settings(cls, settings: Settings) -> Codec:
        """The codec of a deployment: through its schema registry when one is configured."""
        if not settings.schema_registry_url:
            return cls(None)
        password = settings.schema_registry_password
        return cls(SchemaRegistry(settings.schema_registry_url, username=settings.schema_registry_username,
                                  password=password.get_secret_value() if password else None,
                                  cafile=settings.schema_registry_cafile))

    def fingerprint(self, schema_name: str) -> bytes:
        """The CRC-64-AVRO fingerprint cargoguard writes for a schema."""
        return self._codecs[schema_name].fingerprint

    def encode(self, schema_name: str, record: Mapping[str, Any], topic: str | None = None) -> bytes:
        """Avro-encode ``record`` with the framing configured for ``topic``.

        Raises ``ValueError`` (from fastavro) when the record does not fit.
        """
        codec = self._codecs[schema_name]
        out = io.BytesIO()
        if self.registry is not None:
            if topic is None:
                raise ValueError("a topic is needed to encode with a schema registry")
            out.write(self._confluent_header(codec, topic))
        else:
            out.write(codec.header)
        fastavro.schemaless_writer(out, codec.plain, dict(record))
        return out.getvalue()

    def _confluent_header(self, codec: _SchemaCodec, topic: str) -> bytes:
        key = (codec.name, topic)
        header = self._registered.get(key)
        if header is None:
            assert self.registry is not None
            schema_id = self.registry.register(f"{topic}-value", codec.document)
            header = CONFLUENT_MAGIC + struct.pack(">I", schema_id)
            self._registered[key] = header
        return header

    def decode(self, schema_name: str, data: bytes | None) -> dict[str, Any]:
        """Decode a value written in either framing into a plain dict.

        Raises ``UndecodableEvent`` with a reason a person can act on.
        """
        codec = self._codecs[schema_name]
        if not data:
            raise UndecodableEvent(f"empty value where a {schema_name} was expected")
        try:
            if data[:2] == SINGLE_OBJECT_MAGIC:
                body = io.BytesIO(data[_SINGLE_OBJECT_HEADER:])
                if data[2:_SINGLE_OBJECT_HEADER] == codec.fingerprint:
                    # The hot path: written with the current schema, nothing to resolve.
                    record = fastavro.schemaless_reader(body, codec.plain, None)
                else:
                    record = fastavro.schemaless_reader(body, self._older_writer(codec, data), codec.plain)
            elif data[:1] == CONFLUENT_MAGIC and len(data) >= _CONFLUENT_HEADER:
                schema_id = struct.unpack(">I", data[1:_CONFLUENT_HEADER])[0]
                writer = self._writer_schema(codec, schema_id)
                body = io.BytesIO(data[_CONFLUENT_HEADER:])
                record = fastavro.schemaless_reader(body, writer, codec.plain)
            else:
                raise UndecodableEvent(
                    f"not Avro single-object or Confluent framing (starts {data[:4].hex()})"
                )
        except UndecodableEvent:
            raise
        except (EOFError, ValueError, TypeError, IndexError, KeyError, UnicodeDecodeError,
                fastavro.read.SchemaResolutionError) as exc:
            raise UndecodableEvent(f"{schema_name} body does not decode: {exc!r}") from exc
        if body.tell() != len(body.getbuffer()):
            raise UndecodableEvent(
                f"{schema_name} body has {len(body.getbuffer()) - body.tell()} bytes left over"
            )
        if not isinstance(record, dict):
            raise UndecodableEvent(f"{schema_name} body decoded to {type(record).__name__}")
        return record

    @staticmethod
    def _older_writer(codec: _SchemaCodec, data: bytes) -> Any:
        writer = codec.older.get(data[2:_SINGLE_OBJECT_HEADER])
        if writer is None:
            raise UndecodableEvent(
                f"schema fingerprint {data[2:_SINGLE_OBJECT_HEADER].hex()} is not the "
                f"{codec.name} schema ({codec.fingerprint.hex()}) nor an earlier published version of it"
            )
        return writer

    def uncached_schema_ids(self, values: Iterable[bytes | None]) -> set[int]:
        """The registry ids of Confluent-framed ``values`` whose writer schema is not cached yet.

        The worker fetches them off its event loop before decoding (``decode``
        would otherwise block it on the registry's answer).
        """
        registry = self.registry
        if registry is None:
            return set()
        ids = {struct.unpack(">I", value[1:_CONFLUENT_HEADER])[0] for value in values
               if value and value[:1] == CONFLUENT_MAGIC and len(value) >= _CONFLUENT_HEADER}
        return {schema_id for schema_id in ids if not registry.knows(schema_id)}

    def _writer_schema(self, codec: _SchemaCodec, schema_id: int) -> Any:
        writer = codec.writers.get(schema_id)
        if writer is None:
            if self.registry is None:
                raise UndecodableEvent(
                    f"Confluent-framed value (schema id {schema_id}) but no "
                    "CARGOGUARD_SCHEMA_REGISTRY_URL is set"
                )
            writer = fastavro.parse_schema(_without_logical_types(self.registry.schema(schema_id)))
            codec.writers[schema_id] = writer
        return writer
