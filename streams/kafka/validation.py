"""Contract checks an Avro schema cannot express: signs, formats, required-when fields.

``validate(kind, event, now_ms)`` raises ``InvalidEvent`` whose reason names
the event and the field, e.g. ``declaration D1059 (event e-7): gross_weight_kg
is -3.0, must be >= 0``.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Mapping
from typing import Any

from streams.errors import InvalidEvent

HS_CODE = re.compile(r"^[0-9]{6,10}$")
COUNTRY = re.compile(r"^[A-Z]{2}$")
# 2000-01-01T00:00:00Z: earlier event times are a unit mistake (seconds for ms).
EARLIEST_EVENT_TIME_MS = 946_684_800_000


class _Checker:
    # Every event is checked and almost none fails: the label and each problem's
    # text are built only for a failing check (eager f-strings cost half the time).
    def __init__(self, label: Callable[[], str]) -> None:
        self.label = label
        self.problems: list[str] = []

    def non_empty(self, event: Mapping[str, Any], name: str) -> None:
        value = event.get(name)
        if not (isinstance(value, str) and value.strip()):
            self.problems.append(f"{name} is empty")

    def non_negative(self, event: Mapping[str, Any], name: str, prefix: str = "") -> None:
        value = event.get(name)
        if value is None:
            return
        if isinstance(value, float) and not math.isfinite(value):
            self.problems.append(f"{prefix}{name} is {value}, must be a finite number")
        elif value < 0:
            self.problems.append(f"{prefix}{name} is {value}, must be >= 0")

    def done(self) -> None:
        if self.problems:
            raise InvalidEvent(f"{self.label()}: " + "; ".join(self.problems))


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
    c = _Checker(lambda: f"declaration {event.get('declaration_id') or '?'} (event {event.get('event_id')})")
    for name in ("event_id", "declaration_id", "office_code", "declarant_id", "importer_id",
                 "transport_doc_no"):
        c.non_empty(event, name)
    _check_time(c, event, "event_time", latest_ms)
    for name in ("total_value_usd", "gross_weight_kg", "package_count"):
        c.non_negative(event, name)
    problems = c.problems
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
    for index, item in enumerate(event.get("items") or ()):
        prefix = f"items[{index}]."
        code = item.get("hs_code", "")
        if not HS_CODE.match(code):
            problems.append(f"{prefix}hs_code {code!r} is not 6-10 digits")
        country = item.get("origin_country", "")
        if not COUNTRY.match(country):
            problems.append(f"{prefix}origin_country {country!r} is not an ISO 3166 alpha-2 code")
        for name in ("quantity", "net_weight_kg", "value_usd"):
            c.non_negative(item, name, prefix)
    c.done()


def validate_manifest(event: Mapping[str, Any], latest_ms: int) -> None:
    """Check a decoded manifest."""
    c = _Checker(lambda: f"manifest {event.get('manifest_id') or '?'} (event {event.get('event_id')})")
    for name in ("event_id", "manifest_id", "office_code", "transport_doc_no"):
        c.non_empty(event, name)
    _check_time(c, event, "event_time", latest_ms)
    for name in ("gross_weight_kg", "package_count"):
        c.non_negative(event, name)
    code = event.get("hs_code")
    if code is not None and not HS_CODE.match(code):
        c.problems.append(f"hs_code {code!r} is not 6-10 digits")
    c.done()


def validate_gate_event(event: Mapping[str, Any], latest_ms: int) -> None:
    """Check a decoded gate event."""
    c = _Checker(lambda: f"gate event {event.get('event_id') or '?'} at gate {event.get('gate_id')}")
    for name in ("event_id", "office_code", "gate_id", "vehicle_plate"):
        c.non_empty(event, name)
    _check_time(c, event, "event_time", latest_ms)
    c.non_negative(event, "cargo_weight_kg")
    for name in ("container_no", "transport_doc_no"):
        value = event.get(name)
        if value is not None and not value.strip():
            c.problems.append(f"{name} is empty (use null)")
    c.done()


VALIDATORS: dict[str, Callable[[Mapping[str, Any], int], None]] = {
    "declaration": validate_declaration,
    "manifest": validate_manifest,
    "gate_event": validate_gate_event,
}


def validate(kind: str, event: Mapping[str, Any], latest_ms: int) -> None:
    """Check an event of ``kind``; ``latest_ms`` is the latest acceptable event time."""
    VALIDATORS[kind](event, latest_ms)
