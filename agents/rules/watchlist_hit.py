"""WATCHLIST_HIT: an event names a declarant, importer, vehicle, container, HS code or origin on the watchlist.

Thresholds: none; the watchlist itself (topic ``cargo.watchlist``, managed with
``cargoguard watchlist``). Each entry names what to watch, its severity and
why. An entry with ``expires_at`` stops matching events after that time.

Window: none; checked on every declaration, manifest and gate event.

Finding: one per entry and document (a declaration, a manifest, a gate
passage), so the lodged, amended and cleared versions of a declaration raise
one alert. HS prefixes and origins are reported on the shipment.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from agents.rules.config import RuleBook
from agents.rules.findings import Evidence, Finding

RULE_ID = "WATCHLIST_HIT"
WATCH_TYPES = ("DECLARANT", "IMPORTER", "VEHICLE", "CONTAINER", "HS_PREFIX", "ORIGIN_COUNTRY")


@dataclass(frozen=True, slots=True)
class WatchEntry:
    """One watched subject (a ``watchlist_entry.avsc`` record)."""

    entry_id: str
    subject_type: str
    value: str
    severity: str
    reason: str
    added_at: int
    added_by: str | None = None
    expires_at: int | None = None

    @classmethod
    def from_record(cls, record: Mapping[str, Any]) -> WatchEntry:
        """From a decoded watchlist record."""
        return cls(**{name: record.get(name) for name in cls.__slots__})  # type: ignore[arg-type]

    def active_at(self, event_time: int) -> bool:
        """Whether the entry still matches an event at ``event_time``."""
        return self.expires_at is None or event_time < self.expires_at


@dataclass(slots=True)
class Watchlist:
    """Entries indexed by what they watch."""

    entries: dict[str, WatchEntry] = field(default_factory=dict)
    _exact: dict[tuple[str, str], list[WatchEntry]] = field(default_factory=dict)
    _prefixes: list[WatchEntry] = field(default_factory=list)

    def put(self, entry: WatchEntry) -> None:
        """Add or replace an entry."""
        self.entries[entry.entry_id] = entry
        self._reindex()

    def remove(self, entry_id: str) -> None:
        """Drop an entry (a tombstone)."""
        if self.entries.pop(entry_id, None) is not None:
            self._reindex()

    def _reindex(self) -> None:
        self._exact = {}
        self._prefixes = []
        for entry in self.entries.values():
            if entry.subject_type == "HS_PREFIX":
                self._prefixes.append(entry)
            else:
                self._exact.setdefault((entry.subject_type, entry.value), []).append(entry)

    def exact(self, subject_type: str, value: str | None) -> list[WatchEntry]:
        """Entries watching exactly this value."""
        return self._exact.get((subject_type, value), []) if value else []

    def hs_prefixes(self, codes: Iterable[str]) -> list[WatchEntry]:
        """HS_PREFIX entries any of ``codes`` starts with."""
        return [e for e in self._prefixes if any(code.startswith(e.value) for code in codes)]

    def __bool__(self) -> bool:
        return bool(self.entries)


def _hits(feed: str, event: Mapping[str, Any], watchlist: Watchlist) -> list[tuple[WatchEntry, str, str, str]]:
    """(entry, subject type, subject id, what matched) for every entry the event touches."""
    hits: list[tuple[WatchEntry, str, str, str]] = []
    doc: str = event.get("transport_doc_no") or ""
    containers = list(event.get("container_nos") or ())
    if event.get("container_no"):
        containers.append(event["container_no"])
    for container in containers:
        hits += [(e, "CONTAINER", container, f"container {container}") for e in watchlist.exact("CONTAINER", container)]
    if feed == "declaration":
        declarant, importer = event["declarant_id"], event["importer_id"]
        hits += [(e, "DECLARANT", declarant, f"declarant {declarant}")
                 for e in watchlist.exact("DECLARANT", declarant)]
        hits += [(e, "IMPORTER", importer, f"importer {importer}") for e in watchlist.exact("IMPORTER", importer)]
        codes = [item["hs_code"] for item in event["items"]]
        hits += [(e, "SHIPMENT", doc, f"HS code {e.value}*") for e in watchlist.hs_prefixes(codes)]
        for origin in sorted({item["origin_country"] for item in event["items"]}):
            hits += [(e, "SHIPMENT", doc, f"origin {origin}") for e in watchlist.exact("ORIGIN_COUNTRY", origin)]
    elif feed == "manifest":
        consignee = event["consignee_id"]
        hits += [(e, "IMPORTER", consignee, f"consignee {consignee}")
                 for e in watchlist.exact("IMPORTER", consignee)]
        if event.get("hs_code"):
            hits += [(e, "SHIPMENT", doc, f"HS code {e.value}*") for e in watchlist.hs_prefixes([event["hs_code"]])]
    elif feed == "gate_event":
        plate = event["vehicle_plate"]
        hits += [(e, "VEHICLE", plate, f"vehicle {plate}") for e in watchlist.exact("VEHICLE", plate)]
    return hits


def _document(feed: str, event: Mapping[str, Any]) -> tuple[str, str]:
    """What the event is, for the finding's identity and its explanation."""
    if feed == "declaration":
        return event["declaration_id"], f"declaration {event['declaration_id']}"
    if feed == "manifest":
        return event["manifest_id"], f"manifest {event['manifest_id']}"
    return event["event_id"], f"a gate passage at {event['gate_id']}"


def evaluate(feed: str, event: Mapping[str, Any], watchlist: Watchlist, rules: RuleBook) -> list[Finding]:
    """A finding for every active watchlist entry the event names."""
    config = rules.enabled(RULE_ID)
    if config is None or not watchlist:
        return []
    document_id, document = _document(feed, event)
    findings = []
    for entry, subject_type, subject_id, matched in _hits(feed, event, watchlist):
        if not entry.active_at(event["event_time"]) or not subject_id:
            continue
        containers = tuple(event.get("container_nos") or ([event["container_no"]] if event.get("container_no") else []))
        findings.append(Finding(
            rule_id=RULE_ID,
            identity=f"{entry.entry_id}|{feed}|{document_id}",
            severity=entry.severity,
            subject_type=subject_type,
            subject_id=subject_id,
            office_code=event["office_code"],
            event_time=event["event_time"],
            window_start=event["event_time"],
            explanation=(f"Watchlisted {matched} (entry {entry.entry_id}: {entry.reason}) appears in "
                         f"{document} at office {event['office_code']}."),
            evidence=(Evidence(name="watchlist", observed=matched, expected="not on the watchlist"),
                      Evidence(name="entry", observed=f"{entry.entry_id} ({entry.severity})", expected=entry.reason)),
            trigger_event_ids=(event["event_id"],),
            declaration_ids=(event["declaration_id"],) if feed == "declaration" else (),
            transport_doc_no=event.get("transport_doc_no"),
            container_nos=containers,
            gate_id=event.get("gate_id"),
            rule_version=config.version,
            declarant_id=event.get("declarant_id"),
            importer_id=event.get("importer_id") or event.get("consignee_id"),
        ))
    return findings
