"""JSON <-> Avro records, driven by the schemas: for replay files, ``--json`` output and tests.

In JSON, times are ISO-8601 strings (``2026-11-22T08:15:00Z``; a number is
taken as epoch milliseconds) and bytes are base64. A conversion error names
the field, e.g. ``items[0].hs_code: missing``.
"""

from __future__ import annotations

import base64
import math
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

import schemas


class ConversionError(ValueError):
    """A JSON document does not fit its schema; the message names the field."""


def parse_time(value: Any, where: str) -> int:
    """An ISO-8601 string (or epoch ms) as epoch milliseconds, UTC."""
    if isinstance(value, bool):
        raise ConversionError(f"{where}: {value!r} is not a time")
    if isinstance(value, int):
        return value
    if isinstance(value, str):
        text = value.strip()
        try:
            parsed = datetime.fromisoformat(text.replace("Z", "+00:00") if text.endswith("Z") else text)
        except ValueError as exc:
            raise ConversionError(f"{where}: {value!r} is not an ISO-8601 time") from exc
        if parsed.tzinfo is None:
            raise ConversionError(f"{where}: {value!r} has no time zone (add Z for UTC)")
        return int(parsed.timestamp() * 1000)
    raise ConversionError(f"{where}: {value!r} is not a time")


def format_time(ms: int) -> str:
    """Epoch milliseconds as an ISO-8601 UTC string with milliseconds."""
    return datetime.fromtimestamp(ms / 1000, tz=UTC).isoformat(timespec="milliseconds").replace(
        "+00:00", "Z")


def _is_timestamp(node: Any) -> bool:
    return isinstance(node, dict) and node.get("logicalType") == "timestamp-millis"


class _Converter:
    def __init__(self, to_avro: bool) -> None:
        self.to_avro = to_avro
        self.named: dict[str, Any] = {}

    def convert(self, node: Any, value: Any, where: str) -> Any:
        if isinstance(node, list):
            return self._union(node, value, where)
        if isinstance(node, str):
            if node in self.named:
                return self.convert(self.named[node], value, where)
            return self._primitive(node, value, where)
        kind = node["type"]
        if kind == "record":
            self.named[node["name"]] = node
            self.named[f"{node.get('namespace', 'cargoguard')}.{node['name']}"] = node
            return self._record(node, value, where)
        if kind == "enum":
            self.named[node["name"]] = node
            if value not in node["symbols"]:
                raise ConversionError(f"{where}: {value!r} is not one of {', '.join(node['symbols'])}")
            return value
        if kind == "array":
            if not isinstance(value, list):
                raise ConversionError(f"{where}: expected a list, got {type(value).__name__}")
            return [self.convert(node["items"], item, f"{where}[{i}]") for i, item in enumerate(value)]
        if kind == "map":
            if not isinstance(value, Mapping):
                raise ConversionError(f"{where}: expected an object, got {type(value).__name__}")
            return {k: self.convert(node["values"], v, f"{where}.{k}") for k, v in value.items()}
        if _is_timestamp(node):
            return parse_time(value, where) if self.to_avro else format_time(int(value))
        return self._primitive(kind, value, where)

    def _record(self, node: Mapping[str, Any], value: Any, where: str) -> dict[str, Any]:
        if not isinstance(value, Mapping):
            raise ConversionError(f"{where or 'event'}: expected an object, got {type(value).__name__}")
        out: dict[str, Any] = {}
        prefix = f"{where}." if where else ""
        for field in node["fields"]:
            name = field["name"]
            if name in value:
                out[name] = self.convert(field["type"], value[name], prefix + name)
            elif "default" in field:
                out[name] = field["default"]
            else:
                raise ConversionError(f"{prefix}{name}: missing")
        if self.to_avro:
            unknown = sorted(set(value) - set(out) - {"kind", "label"})
            if unknown:
                raise ConversionError(f"{prefix}{unknown[0]}: not a field of {node['name']}")
        return out

    def _union(self, branches: list[Any], value: Any, where: str) -> Any:
        if value is None:
            if "null" in branches:
                return None
            raise ConversionError(f"{where}: must not be null")
        problems: list[str] = []
        for branch in branches:
            if branch == "null":
                continue
            try:
                return self.convert(branch, value, where)
            except ConversionError as exc:
                problems.append(str(exc))
        raise ConversionError(problems[0] if len(problems) == 1 else f"{where}: {value!r} fits no type")

    def _primitive(self, kind: str, value: Any, where: str) -> Any:
        if kind == "string":
            if not isinstance(value, str):
                raise ConversionError(f"{where}: expected text, got {value!r}")
            return value
        if kind in ("int", "long"):
            if isinstance(value, bool) or not isinstance(value, int):
                raise ConversionError(f"{where}: expected a whole number, got {value!r}")
            return value
        if kind in ("double", "float"):
            if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
                raise ConversionError(f"{where}: expected a number, got {value!r}")
            return float(value)
        if kind == "boolean":
            if not isinstance(value, bool):
                raise ConversionError(f"{where}: expected true or false, got {value!r}")
            return value
        if kind == "bytes":
            if self.to_avro:
                if not isinstance(value, str):
                    raise ConversionError(f"{where}: expected base64 text, got {value!r}")
                return base64.b64decode(value)
            return base64.b64encode(value).decode()
        if kind == "null":
            if value is not None:
                raise ConversionError(f"{where}: must be null")
            return None
        raise ConversionError(f"{where}: unsupported type {kind}")


def to_avro_record(schema_name: str, document: Mapping[str, Any]) -> dict[str, Any]:
    """A JSON event (ISO times) as an Avro-ready record (epoch-ms times)."""
    converted: dict[str, Any] = _Converter(to_avro=True).convert(schemas.load(schema_name), document, "")
    return converted


def to_json_document(schema_name: str, record: Mapping[str, Any]) -> dict[str, Any]:
    """A decoded Avro record as JSON-ready data (ISO times, base64 bytes)."""
    converted: dict[str, Any] = _Converter(to_avro=False).convert(schemas.load(schema_name), record, "")
    return converted
