"""Contract checks an Avro schema cannot express: signs, formats, required-when fields.

``validate(kind, event, now_ms)`` raises ``InvalidEvent`` whose reason names
the event and the field, e.g. ``declaration D1059 (event e-7): gross_weight_kg
is -3.0, must be >= 0``.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from streams.errors import InvalidEvent

HS_CODE = re.compile(r"^[0-9]{6,10}$")
COUNTRY = re.compile(r"^[A-Z]{2}$")
# 2000-01-01T00:00:00Z: earlier event times are a unit mistake (seconds for ms).
EARLIEST_EVENT_TIME_MS = 946_684_800_000

# Upper bounds: no real shipment comes near them, and each keeps a hostile
# producer from filling the worker's state (ids are table keys) or its memory.
# An identifier or code: the longest in the KCS data and UN/EDIFACT is 35.
MAX_ID_CHARS = 100
MAX_TEXT_CHARS = 4_000
# Declaration systems number item lines with three digits.
MAX_ITEMS = 999
MAX_CONTAINERS = 999
# A million tonnes: more than the largest bulk carrier loads.
MAX_WEIGHT_KG = 1e9
MAX_VALUE_USD = 1e12
MAX_COUNT = 100_000_000
# What a reason quotes of a value: enough to find it, never the whole of a huge one.
SHOWN_CHARS = 40


def shown(value: Any) -> str:
    """``repr(value)``, cut to ``SHOWN_CHARS`` with the full length named."""
    text = repr(value)
    if len(text) <= SHOWN_CHARS:
        return text
    return f"{text[:SHOWN_CHARS]}... ({len(text):,} chars)"


class _Checker:
    # Every event is checked and almost none fails: the label and each problem's
    # text are built only for a failing check (eager f-strings cost half the time).
    def __init__(self, label: Callable[[], str]) -> None:
        self.label = label
        self.problems: list[str] = []

    def identifier(self, event: Mapping[str, Any], name: str) -> None:
        value = event.get(name)
        if not (isinstance(value, str) and value.strip()):
            self.problems.append(f"{name} is empty")
        else:
            self.bounded(event, name)

    def optional_identifier(self, event: Mapping[str, Any], name: str) -> None:
        value = event.get(name)
        if value is None:
            return
        if not value.strip():
            self.problems.append(f"{name} is empty (use null)")
        else:
            self.bounded(event, name)

    def bounded(self, event: Mapping[str, Any], name: str, most: int = MAX_ID_CHARS) -> None:
        value = event.get(name)
        if value is not None and len(value) > most:
            self.problems.append(f"{name} {shown(value)} is longer than {most:,} characters")

    def few_enough(self, values: Sequence[Any], name: str, most: int) -> bool:
        if len(values) <= most:
            return True
        self.problems.append(f"{name} has {len(values):,} entries, at most {most:,} are allowed")
        return False

    def listed(self, event: Mapping[str, Any], name: str, most: int) -> None:
        values = event.get(name) or ()
        if not self.few_enough(values, name, most):
            return
        for index, value in enumerate(values):
            if not value.strip() or len(value) > MAX_ID_CHARS:
                self.problems.append(f"{name}[{index}] {shown(value)} is empty or longer than "
                                     f"{MAX_ID_CHARS} characters")

    def amount(self, event: Mapping[str, Any], name: str, most: float, prefix: str = "") -> None:
        value = event.get(name)
        if value is None:
            return
        if isinstance(value, float) and not math.isfinite(value):
            self.problems.append(f"{prefix}{name} is {value}, must be a finite number")
        elif value < 0:
            self.problems.append(f"{prefix}{name} is {value}, must be >= 0")
        elif value > most:
            self.problems.append(f"{prefix}{name} is {value:g}, more than {most:g}")

    def done(self) -> None:
        if self.problems:
            raise InvalidEvent(f"{self.label()}: " + "; ".join(self.problems))


def _name(event: Mapping[str, Any], field: str) -> str:
    """An event's id for a reason: ``?`` when missing, cut when hostile."""
    value = event.get(field)
    if not value:
        return "?"
    return str(value) if len(value) <= SHOWN_CHARS else shown(value)


def _check_time(checker: _Checker, event: Mapping[str, Any], name: str, latest_ms: int) -> None:
    value = event.get(name)
    if value is None:
        return
    if value < EARLIEST_EVENT_TIME_MS:
        checker.problems.append(f"{name} is {value}, before 2000-01-01 (seconds instead of ms?)")
    elif value > latest_ms:
        checker.problems.append(f"{name} is {value}, too far in the future")


def validate_declaration(event: Mapping[str, Any], latest_ms: int) -> None:
    """Check a decoded declaration."""
    c = _Checker(lambda: f"declaration {_name(event, 'declaration_id')} (event {_name(event, 'event_id')})")
    for name in ("event_id", "declaration_id", "office_code", "declarant_id", "importer_id",
                 "transport_doc_no"):
        c.identifier(event, name)
    for name in ("destination_office", "seller_id", "departure_country", "tax_type"):
        c.bounded(event, name)
    c.listed(event, "container_nos", MAX_CONTAINERS)
    _check_time(c, event, "event_time", latest_ms)
    c.amount(event, "total_value_usd", MAX_VALUE_USD)
    c.amount(event, "gross_weight_kg", MAX_WEIGHT_KG)
    c.amount(event, "package_count", MAX_COUNT)
    problems = c.problems
    items = event.get("items") or ()
    if not c.few_enough(items, "items", MAX_ITEMS):
        items = ()
    deadline = event.get("transit_deadline")
    if event.get("procedure") == "TRANSIT":
        if not event.get("destination_office"):
            problems.append("destination_office is missing for TRANSIT")
        if deadline is None:
            problems.append("transit_deadline is missing for TRANSIT")
        elif deadline < event["event_time"]:
            problems.append("transit_deadline is before event_time")
    else:
        if event.get("destination_office") is not None:
            problems.append(f"destination_office is set for {event.get('procedure')}, only TRANSIT has one")
        if deadline is not None:
            problems.append(f"transit_deadline is set for {event.get('procedure')}, only TRANSIT has one")
    for index, item in enumerate(items):
        prefix = f"items[{index}]."
        code = item.get("hs_code", "")
        if not HS_CODE.match(code):
            problems.append(f"{prefix}hs_code {shown(code)} is not 6-10 digits")
        country = item.get("origin_country", "")
        if not COUNTRY.match(country):
            problems.append(f"{prefix}origin_country {shown(country)} is not an ISO 3166 alpha-2 code")
        c.amount(item, "quantity", MAX_COUNT, prefix)
        c.amount(item, "net_weight_kg", MAX_WEIGHT_KG, prefix)
        c.amount(item, "value_usd", MAX_VALUE_USD, prefix)
    c.done()


def validate_manifest(event: Mapping[str, Any], latest_ms: int) -> None:
    """Check a decoded manifest."""
    c = _Checker(lambda: f"manifest {_name(event, 'manifest_id')} (event {_name(event, 'event_id')})")
    for name in ("event_id", "manifest_id", "office_code", "transport_doc_no"):
        c.identifier(event, name)
    for name in ("carrier_id", "voyage_no", "consignee_id", "port_of_loading", "port_of_discharge"):
        c.bounded(event, name)
    c.listed(event, "container_nos", MAX_CONTAINERS)
    c.bounded(event, "goods_description", MAX_TEXT_CHARS)
    _check_time(c, event, "event_time", latest_ms)
    c.amount(event, "gross_weight_kg", MAX_WEIGHT_KG)
    c.amount(event, "package_count", MAX_COUNT)
    code = event.get("hs_code")
    if code is not None and not HS_CODE.match(code):
        c.problems.append(f"hs_code {shown(code)} is not 6-10 digits")
    c.done()


def validate_gate_event(event: Mapping[str, Any], latest_ms: int) -> None:
    """Check a decoded gate event."""
    c = _Checker(lambda: f"gate event {_name(event, 'event_id')} at gate {_name(event, 'gate_id')}")
    for name in ("event_id", "office_code", "gate_id", "vehicle_plate"):
        c.identifier(event, name)
    _check_time(c, event, "event_time", latest_ms)
    c.amount(event, "cargo_weight_kg", MAX_WEIGHT_KG)
    for name in ("container_no", "transport_doc_no"):
        c.optional_identifier(event, name)
    c.bounded(event, "seal_no")
    c.done()


VALIDATORS: dict[str, Callable[[Mapping[str, Any], int], None]] = {
    "declaration": validate_declaration,
    "manifest": validate_manifest,
    "gate_event": validate_gate_event,
}


def validate(kind: str, event: Mapping[str, Any], latest_ms: int) -> None:
    """Check an event of ``kind``; ``latest_ms`` is the latest acceptable event time."""
    VALIDATORS[kind](event, latest_ms)
