"""CSV rows as events, through a small mapping file (TOML): which column feeds which field.

A mapping names the event ``kind`` and, for each field of that kind's schema
(and of each item, for declarations), one source:

- ``"Column"`` or ``{column = "Column"}``: the cell, converted to the field's
  Avro type (text, number, whole number, time);
- ``{value = ...}``: a constant;
- ``{template = "KCS-{Declaration ID}"}``: text built from cells;
- ``{column = "Price", divide_by = 1180.0}``: a number scaled (e.g. a currency);
- ``{column = "HS", zero_pad = 6}``: digits left-padded (codes stored as numbers);
- ``{present = "Courier ID", then = "EXPRESS", else = "STANDARD"}``: by whether a cell is filled.

``[event_time]`` gives the time column and its ``format`` (``strptime``, UTC).
With ``spread_within_day = true`` a date-only column is spread in file order
over its day (row k of a day at k seconds past midnight), so events keep
their file order within a day; a row whose day is earlier than the row
before is refused. ``[labels]`` names columns kept beside the event (e.g. a
fraud label), never put on it. Errors name the file, the row and the column.
"""

from __future__ import annotations

import csv
import datetime as dt
import tomllib
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

import schemas
from streams.errors import UserError
from streams.kafka.events_json import ConversionError, format_time, to_avro_record
from streams.kafka.topics import EVENT_KINDS, PUBLIC_TOPICS

SHIPPED_MAPPINGS = "mappings"
SOURCE_KEYS = ("column", "value", "template", "present")
DAY_MS = 86_400_000
SECOND_MS = 1000


class MappingError(UserError):
    """A mapping file that cannot be used, naming the file and the key."""


@dataclass(frozen=True, slots=True)
class EventTime:
    """Where event time comes from."""

    column: str
    format: str
    spread_within_day: bool


@dataclass(frozen=True, slots=True)
class CsvMapping:
    """A parsed mapping: the event kind, field sources, event time and label columns."""

    origin: str
    kind: str
    fields: Mapping[str, Any]
    items: Mapping[str, Any] | None
    event_time: EventTime
    labels: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class TabularEvent:
    """One mapped row: an Avro-ready record, where it came from, and its label cells."""

    kind: str
    record: dict[str, Any]
    where: str
    labels: dict[str, str]


def load_mapping(name_or_path: str | Path) -> CsvMapping:
    """A shipped mapping by name (``kcs``) or a mapping file."""
    path = Path(name_or_path)
    if path.suffix != ".toml" and not path.exists():
        shipped = resources.files("streams.tools").joinpath(SHIPPED_MAPPINGS, f"{name_or_path}.toml")
        if not shipped.is_file():
            shipped_dir = resources.files("streams.tools").joinpath(SHIPPED_MAPPINGS)
            known = sorted(p.name.removesuffix(".toml") for p in shipped_dir.iterdir() if p.name.endswith(".toml"))
            raise MappingError(f"no mapping {str(name_or_path)!r}: give a .toml file or one of {', '.join(known)}")
        return parse_mapping(shipped.read_text(encoding="utf-8"), f"shipped mapping {name_or_path}")
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise MappingError(f"mapping {path}: {exc.strerror}") from exc
    return parse_mapping(text, str(path))


def parse_mapping(text: str, origin: str) -> CsvMapping:
    """Parse and check a mapping's text against the schema of its event kind."""
    try:
        document = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise MappingError(f"{origin}: {exc}") from exc
    kind = document.get("kind")
    if kind not in EVENT_KINDS:
        raise MappingError(f"{origin}: kind {kind!r} is not one of {', '.join(EVENT_KINDS)}")
    schema = schemas.load(PUBLIC_TOPICS[EVENT_KINDS[kind]].schema)
    time_doc = document.get("event_time")
    if not isinstance(time_doc, Mapping) or not isinstance(time_doc.get("column"), str):
        raise MappingError(f"{origin}: [event_time] must name its column")
    event_time = EventTime(column=time_doc["column"], format=str(time_doc.get("format", "%Y-%m-%dT%H:%M:%S")),
                           spread_within_day=bool(time_doc.get("spread_within_day", False)))
    fields = _sources(document.get("fields"), origin, "fields")
    items = _sources(document["items"], origin, "items") if "items" in document else None
    top = {f["name"]: f for f in schema["fields"]}
    for name in fields:
        if name not in top or name == "event_time":
            raise MappingError(f"{origin}: fields.{name} is not a field of {kind} (or is event_time)")
    if items is not None:
        item_schema = _item_schema(top)
        if item_schema is None:
            raise MappingError(f"{origin}: [items] given, but {kind} has no items")
        for name in items:
            if name not in {f["name"] for f in item_schema["fields"]}:
                raise MappingError(f"{origin}: items.{name} is not a field of an item")
    labels = document.get("labels", {})
    if not isinstance(labels, Mapping) or not all(isinstance(v, str) for v in labels.values()):
        raise MappingError(f"{origin}: [labels] maps label names to column names")
    return CsvMapping(origin=origin, kind=kind, fields=fields, items=items, event_time=event_time,
                      labels=dict(labels))


def _item_schema(top: Mapping[str, Any]) -> dict[str, Any] | None:
    items = top.get("items")
    if items is None:
        return None
    node: dict[str, Any] = items["type"]["items"]
    return node


def _sources(table: Any, origin: str, section: str) -> dict[str, Any]:
    if not isinstance(table, Mapping):
        raise MappingError(f"{origin}: [{section}] must be a table of field = source")
    sources: dict[str, Any] = {}
    for name, source in table.items():
        if isinstance(source, str):
            source = {"column": source}
        if not isinstance(source, Mapping) or sum(key in source for key in SOURCE_KEYS) != 1:
            raise MappingError(f"{origin}: {section}.{name} needs exactly one of {', '.join(SOURCE_KEYS)}")
        if "present" in source and not {"then", "else"} <= set(source):
            raise MappingError(f"{origin}: {section}.{name}: 'present' needs 'then' and 'else'")
        sources[name] = dict(source)
    return sources


def _primitive(node: Any) -> Any:
    """The field type, seen through a nullable union."""
    if isinstance(node, list):
        others = [branch for branch in node if branch != "null"]
        return _primitive(others[0]) if others else "null"
    if isinstance(node, dict) and node.get("logicalType") == "timestamp-millis":
        return "timestamp"
    if isinstance(node, dict):
        return node.get("type")
    return node


class _RowError(Exception):
    """A cell that cannot be mapped: which column, and why."""


def _cell(row: Mapping[str, str], column: str) -> str:
    if column not in row:
        raise _RowError(f"column {column!r} is not in the file")
    return (row[column] or "").strip()


def _value(source: Mapping[str, Any], field_type: Any, row: Mapping[str, str]) -> Any:
    if "value" in source:
        return source["value"]
    if "template" in source:
        try:
            return str(source["template"]).format_map({k: (v or "").strip() for k, v in row.items()})
        except KeyError as exc:
            raise _RowError(f"column {exc.args[0]!r} (in a template) is not in the file") from None
    if "present" in source:
        return source["then"] if _cell(row, source["present"]) else source["else"]
    column = source["column"]
    text = _cell(row, column)
    if text == "":
        return None
    if "zero_pad" in source:
        text = text.split(".")[0].zfill(int(source["zero_pad"]))
    if field_type in ("double", "float", "int", "long"):
        try:
            number = float(text)
        except ValueError:
            raise _RowError(f"column {column!r}: {text!r} is not a number") from None
        if "divide_by" in source:
            number /= float(source["divide_by"])
        if field_type in ("int", "long"):
            if not number.is_integer():
                raise _RowError(f"column {column!r}: {text!r} is not a whole number")
            return int(number)
        return number
    return text


def _map(sources: Mapping[str, Any], schema_fields: list[dict[str, Any]], row: Mapping[str, str]) -> dict[str, Any]:
    types = {f["name"]: _primitive(f["type"]) for f in schema_fields}
    document: dict[str, Any] = {}
    for name, source in sources.items():
        try:
            document[name] = _value(source, types[name], row)
        except _RowError as exc:
            raise _RowError(f"{name}: {exc}") from None
    return document


def _day_ms(text: str, time: EventTime) -> int:
    try:
        moment = dt.datetime.strptime(text, time.format).replace(tzinfo=dt.UTC)
    except ValueError:
        raise _RowError(f"column {time.column!r}: {text!r} does not match {time.format!r}") from None
    return int(moment.timestamp() * 1000)


def events_from_csv(path: Path, mapping: CsvMapping, skipped: list[str] | None = None) -> Iterator[TabularEvent]:
    """Each row of ``path`` as an event.

    A row that cannot be mapped raises ``UserError`` naming it or, with
    ``skipped``, is listed there and passed over.
    """
    schema_name = PUBLIC_TOPICS[EVENT_KINDS[mapping.kind]].schema
    top_fields: list[dict[str, Any]] = schemas.load(schema_name)["fields"]
    item_schema = _item_schema({f["name"]: f for f in top_fields})
    try:
        handle = path.open(encoding="utf-8", newline="")
    except OSError as exc:
        raise UserError(f"{path}: {exc.strerror}") from exc
    with handle:
        reader = csv.DictReader(handle)
        day, rank, previous = None, 0, None
        for number, row in enumerate(reader, start=2):  # row 1 is the header
            where = f"{path}:row {number}"
            try:
                moment = _day_ms(_cell(row, mapping.event_time.column), mapping.event_time)
                if mapping.event_time.spread_within_day:
                    if previous is not None and moment < previous:
                        raise _RowError(f"column {mapping.event_time.column!r}: goes back in time "
                                        "(spreading a day's rows needs the file in date order)")
                    rank = rank + 1 if moment == day else 0
                    day = previous = moment
                    moment += min(rank * SECOND_MS, DAY_MS - 1)
                document = _map(mapping.fields, top_fields, row)
                document["event_time"] = format_time(moment)
                if mapping.items is not None and item_schema is not None:
                    document["items"] = [_map(mapping.items, item_schema["fields"], row)]
                labels = {name: _cell(row, column) for name, column in mapping.labels.items()}
                record = to_avro_record(schema_name, document)
            except (_RowError, ConversionError) as exc:
                problem = f"{where}: {exc}" if isinstance(exc, _RowError) else f"{where}: {mapping.kind} {exc}"
                if skipped is None:
                    raise UserError(problem) from None
                skipped.append(problem)
                continue
            yield TabularEvent(mapping.kind, record, where, labels)
