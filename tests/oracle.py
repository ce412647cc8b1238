"""An in-memory run of the pure detection logic: the expected alerts for a list of events.

No Kafka, no Faust: routes each event as the router would, processes each
subject as the subject agents would, with stream time = the newest event
time seen (one input partition). End-to-end tests compare the real
pipeline's alerts with this; unit tests use it to run whole scenarios.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from typing import Any

import orjson

from agents.rules import seal_broken, watchlist_hit
from agents.rules.config import RuleBook
from agents.rules.findings import Finding
from agents.rules.watchlist_hit import WatchEntry, Watchlist
from agents.subjects.common import Context, RoutedEvent
from agents.subjects.routes import SCORING, routes_for
from streams.runtime.agents.subject_agent import SubjectKind, decode_segment, decode_state, encode_segment, encode_state
from streams.runtime.agents.subjects import KINDS
from streams.runtime.alert_versions import new_versions, to_scoring
from streams.settings import Settings

LATENESS_MS = int(Settings().allowed_lateness_s * 1000)


class Oracle:
    """Feeds events through the pure logic; ``alerts`` holds the newest finding per alert id."""

    def __init__(self, rules: RuleBook, watchlist: Watchlist | None = None, reload: bool = False) -> None:
        """``reload``: store every state after each step and go on from what loads back, as after a restart."""
        self.rules = rules
        self.reload = reload
        self.stored_segments: dict[tuple[str, str, str], bytes] = {}
        self.watchlist = watchlist or Watchlist()
        self.kinds = {kind.name: kind for kind in KINDS}
        self.states: dict[str, dict[str, Any]] = {name: {} for name in self.kinds}
        self.due: dict[tuple[str, str], int] = {}
        self.watermark: int | None = None
        self.stream_start: int | None = None
        self.alerts: dict[str, Finding] = {}
        self.versions: dict[str, int] = {}

    def feed(self, kind: str, record: Mapping[str, Any], advance: bool = True) -> None:
        """Process one input event (kind: declaration, manifest, gate_event, or a watchlist_entry).

        ``advance=False`` delivers it without moving stream time, as when
        another input partition lags behind.
        """
        if kind == "watchlist_entry":  # a watchlist change applies to the events after it
            self.watchlist.put(WatchEntry.from_record(record))
            return
        time = int(record["event_time"])
        if self.stream_start is None:
            self.stream_start = time
        arrival_watermark = self.watermark
        if advance:
            self.watermark = time if self.watermark is None else max(self.watermark, time)
        routes = routes_for(kind, record)
        for route in routes:
            self._process(route.subject_kind, route.key, [(route.kind, route.fields)], arrival_watermark)
        watched = watchlist_hit.evaluate(kind, record, self.watchlist, self.rules)
        if watched:
            self._emit(watched, {})
        if not routes and kind == "gate_event":
            finding = seal_broken.evaluate(record, self.rules, "VEHICLE", record["vehicle_plate"])
            if finding is not None:
                self._emit([finding], {})
        self.fire_timers()

    def advance(self, watermark: int) -> None:
        """Move stream time forward (as idle feeds would) and fire due timers."""
        self.watermark = max(self.watermark or watermark, watermark)
        self.fire_timers()

    def fire_timers(self) -> None:
        """Process every subject whose due time stream time has reached."""
        while True:
            due = [key for key, when in self.due.items()
                   if self.watermark is not None and when <= self.watermark]
            if not due:
                return
            for subject_kind, key in sorted(due):
                del self.due[(subject_kind, key)]
                self._process(subject_kind, key, [])

    def _process(self, subject_kind: str, key: str, events: list[RoutedEvent],
                 arrival_watermark: int | None = None) -> None:
        kind = self.kinds[subject_kind]
        state = self.states[subject_kind].get(key)
        context = Context(self.rules, self.watermark, LATENESS_MS, self.stream_start, arrival_watermark)
        state, outcome = kind.process(state, key, events, context)
        if kind.final:
            for finding, version in new_versions(outcome.findings, state.raised, outcome.version_floor).versions:
                self.alerts[finding.alert_id] = finding
                self.versions[finding.alert_id] = version
        else:
            self._emit(outcome.findings, state.raised)
        if kind.is_empty(state):
            self.states[subject_kind].pop(key, None)
        else:
            self.states[subject_kind][key] = self._reloaded(kind, key, state) if self.reload else state
        if outcome.next_due is None:
            self.due.pop((subject_kind, key), None)
        else:
            self.due[(subject_kind, key)] = outcome.next_due
        for forward in outcome.forwards:
            self._process(forward.subject_kind, forward.key, [(forward.kind, forward.event)])

    def _reloaded(self, kind: SubjectKind[Any], key: str, state: Any) -> Any:
        """The state as stored by the subject agents and loaded back."""
        if kind.segmented is not None:
            for segment_id, segment in kind.segmented.take_dirty(state, self._segment_reader(kind, key)).items():
                stored = encode_segment(segment)
                if stored is None:
                    self.stored_segments.pop((kind.name, key, segment_id), None)
                else:
                    self.stored_segments[(kind.name, key, segment_id)] = stored
        raw = encode_state(kind, state)
        assert raw is not None
        return decode_state(kind, raw, self._segment_reader(kind, key))

    def _segment_reader(self, kind: SubjectKind[Any], key: str) -> Callable[[str], Any]:
        return lambda segment_id: decode_segment(self.stored_segments.get((kind.name, key, segment_id)))

    def _emit(self, findings: list[Finding], raised: dict[str, list[Any]]) -> None:
        """Hand new findings to scoring, through their JSON form as on the wire."""
        for history, kind, fields in to_scoring(findings, raised):
            self._process(SCORING, history, [(kind, orjson.loads(orjson.dumps(fields)))])


def expected_alerts(events: Iterable[tuple[str, Mapping[str, Any]]], rules: RuleBook,
                    flush_after_ms: int | None = None, watchlist: Watchlist | None = None) -> dict[str, Finding]:
    """The alerts the pure logic raises for ``events`` in order (newest finding per id)."""
    oracle = Oracle(rules, watchlist)
    for kind, record in events:
        oracle.feed(kind, record)
    if flush_after_ms is not None and oracle.watermark is not None:
        oracle.advance(oracle.watermark + flush_after_ms)
    return oracle.alerts
