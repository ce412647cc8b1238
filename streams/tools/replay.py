"""Replay JSON Lines files (or CSV through a mapping) onto the input topics, in file order, with a progress bar.

Each line is one event with ``"kind"``: declaration, manifest, gate_event,
watchlist_entry or rule_config. A ``.csv`` file is read through a mapping
file (``streams.tools.csv_mapping``): each row one event. ``rate`` caps events per second; ``speedup``
keeps the event-time gaps between events, divided by it.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    ProgressColumn,
    Task,
    TextColumn,
    TimeRemainingColumn,
)
from rich.text import Text

from streams.errors import UserError
from streams.kafka.events_json import ConversionError, to_avro_record
from streams.kafka.publish import EventPublisher
from streams.kafka.topics import EVENT_KINDS, PUBLIC_TOPICS
from streams.tools.csv_mapping import CsvMapping, events_from_csv


@dataclass(frozen=True, slots=True)
class JsonEvent:
    """One line of a replay file, converted."""

    kind: str
    record: dict[str, Any]
    where: str
    # A labelled file's planted finding (``simulate --out``); never published.
    label: dict[str, str] | None = None


@dataclass(slots=True)
class ReplaySummary:
    """What a replay did."""

    published: int = 0
    skipped: list[str] = field(default_factory=list)
    seconds: float = 0.0


class EventsPerSecond(ProgressColumn):
    """The progress bar's rate column, in events per second."""

    def render(self, task: Task) -> Text:
        """Render the current rate."""
        speed = task.finished_speed or task.speed
        return Text(f"{speed:,.0f} ev/s" if speed else "- ev/s", style="progress.data.speed")


def parse_line(line: str, where: str) -> JsonEvent:
    """Convert one JSON line; ``UserError`` names the line and the field."""
    try:
        document = json.loads(line)
    except json.JSONDecodeError as exc:
        raise UserError(f"{where}: not JSON ({exc.msg} at column {exc.colno})") from exc
    if not isinstance(document, dict):
        raise UserError(f"{where}: expected a JSON object")
    kind = document.get("kind")
    if kind not in EVENT_KINDS:
        raise UserError(f"{where}: kind {kind!r} is not one of {', '.join(EVENT_KINDS)}")
    try:
        record = to_avro_record(PUBLIC_TOPICS[EVENT_KINDS[kind]].schema, document)
    except ConversionError as exc:
        raise UserError(f"{where}: {kind} {exc}") from exc
    label = document.get("label")
    return JsonEvent(kind, record, where, label if isinstance(label, dict) else None)


def read_events(paths: list[Path], skipped: list[str] | None = None,
                mapping: CsvMapping | None = None) -> Iterator[JsonEvent]:
    """Events of every file in order; with ``skipped``, bad lines are listed there instead of raised.

    ``.csv`` files are read through ``mapping`` (``streams.tools.csv_mapping``); the others are JSON Lines.
    """
    for path in paths:
        if path.suffix.lower() == ".csv":
            if mapping is None:
                raise UserError(f"{path}: a CSV file needs a mapping (--mapping kcs, or a mapping .toml)")
            for row in events_from_csv(path, mapping, skipped):
                yield JsonEvent(row.kind, row.record, row.where)
            continue
        try:
            handle = path.open(encoding="utf-8")
        except OSError as exc:
            raise UserError(f"{path}: {exc.strerror}") from exc
        with handle:
            for number, line in enumerate(handle, start=1):
                if not line.strip():
                    continue
                try:
                    yield parse_line(line, f"{path}:{number}")
                except UserError as exc:
                    if skipped is None:
                        raise
                    skipped.append(str(exc))


def count_lines(paths: list[Path]) -> int:
    """Non-empty lines in the files, for the progress bar's total."""
    total = 0
    for path in paths:
        try:
            with path.open("rb") as handle:
                total += sum(1 for line in handle if line.strip())
            if path.suffix.lower() == ".csv":
                total -= 1  # the header
        except OSError as exc:
            raise UserError(f"{path}: {exc.strerror}") from exc
    return total


class Pacer:
    """Sleeps so events go out no faster than ``rate`` and at event-time gaps / ``speedup``."""

    def __init__(self, rate: float | None, speedup: float | None) -> None:
        if rate is not None and rate <= 0:
            raise UserError("--rate must be positive")
        if speedup is not None and speedup <= 0:
            raise UserError("--speedup must be positive")
        self.rate = rate
        self.speedup = speedup
        self.started = time.monotonic()
        self.sent = 0
        self.first_event_time: int | None = None

    def wait(self, event_time: int | None) -> None:
        """Block until the next event may go out."""
        target = self.started
        if self.rate is not None:
            target = max(target, self.started + self.sent / self.rate)
        if self.speedup is not None and event_time is not None:
            if self.first_event_time is None:
                self.first_event_time = event_time
            target = max(target, self.started + (event_time - self.first_event_time) / 1000 / self.speedup)
        delay = target - time.monotonic()
        if delay > 0:
            time.sleep(delay)
        self.sent += 1


def replay(paths: list[Path], publisher: EventPublisher, rate: float | None = None,
           speedup: float | None = None, skip_invalid: bool = False,
           console: Console | None = None,
           on_published: Callable[[JsonEvent], None] | None = None,
           mapping: CsvMapping | None = None) -> ReplaySummary:
    """Publish every event of ``paths`` in file order; ``on_published`` hears of each as it goes out."""
    summary = ReplaySummary()
    total = count_lines(paths)
    pacer = Pacer(rate, speedup)
    started = time.monotonic()
    columns = (TextColumn("[bold]replay[/]"), BarColumn(), MofNCompleteColumn(), EventsPerSecond(),
               TimeRemainingColumn())
    with Progress(*columns, console=console or Console(stderr=True), transient=False) as progress:
        task = progress.add_task("replay", total=total)
        skipped = summary.skipped if skip_invalid else None
        for event in read_events(paths, skipped, mapping):
            pacer.wait(event.record.get("event_time"))
            publisher.publish(event.kind, event.record)
            if on_published is not None:
                on_published(event)
            summary.published += 1
            if summary.published % 500 == 0:
                progress.update(task, completed=summary.published + len(summary.skipped))
        publisher.flush()
        progress.update(task, completed=total)
    summary.seconds = time.monotonic() - started
    return summary
