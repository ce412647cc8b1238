"""``cargoguard simulate``: generated traffic to a JSON Lines file, or live onto the input topics.

A file is reproducible (the same seed always writes the same bytes): its event
times start at a fixed date, and each planted event carries its label beside
the record's fields, which ``cargoguard replay`` ignores. Live traffic starts
now, tells each story ``time_scale`` times faster, and publishes every event
when the wall clock reaches its event time; labels are never published. As
every story starts with one event and spreads the rest over hours of story
time, live traffic reaches its rate once the first stories have run their
course (about 20 minutes at time scale 60).
"""

from __future__ import annotations

import itertools
import json
import math
import time
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Any, Protocol

from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

from streams.errors import UserError
from streams.kafka.events_json import to_json_document
from streams.kafka.publish import EventPublisher
from streams.kafka.topics import EVENT_KINDS, PUBLIC_TOPICS
from streams.runtime.stream_time import wall_ms
from streams.settings import Settings
from streams.tools.traffic import SimulatedEvent, SimulationConfig, generate, watchlist_entries

# Files start on a fixed Monday, whatever the seed, so the same seed always gives the same file.
FILE_START_MS = 1_767_571_200_000  # 2026-01-05T00:00:00Z
# Seconds of story starts in a file when --duration is not given.
FILE_DURATION_S = 3600.0
# Files tell stories in real time: a replay --speedup compresses them if wanted.
FILE_TIME_SCALE = 1.0
# Live stories are told this much faster by default: an hour in port passes in a minute.
LIVE_TIME_SCALE = 60.0
# While pacing, wake at least this often, so delivery reports are served and Ctrl-C is prompt.
MAX_WAIT_S = 0.25
# Redraw the progress bar every this many events; redrawing per event would cost more than writing.
PROGRESS_EVERY = 2000


class Publisher(Protocol):
    """What live simulation needs from a publisher (``EventPublisher`` in production)."""

    def publish(self, kind: str, record: Mapping[str, Any]) -> None:
        """Queue one event."""

    def flush(self) -> None:
        """Wait until every queued event is delivered."""


def json_line(event: SimulatedEvent) -> str:
    """One event as a replay-file line: ``kind``, the fields (ISO times), then the label if planted."""
    schema = PUBLIC_TOPICS[EVENT_KINDS[event.kind]].schema
    document = {"kind": event.kind, **to_json_document(schema, event.record)}
    if event.label:
        document["label"] = event.label
    return json.dumps(document, separators=(",", ":"))


def write_jsonl(events: Iterable[SimulatedEvent], path: Path,
                on_event: Callable[[int, SimulatedEvent], None] | None = None) -> int:
    """Write ``events`` to ``path`` as JSON Lines and return how many.

    ``on_event(count, event)`` is called after each line, e.g. to move a progress bar.
    """
    count = 0
    try:
        with path.open("w", encoding="utf-8") as out:
            for event in events:
                out.write(json_line(event) + "\n")
                count += 1
                if on_event is not None:
                    on_event(count, event)
    except OSError as exc:
        raise UserError(f"{path}: {exc.strerror}") from exc
    return count


def publish_live(events: Iterable[SimulatedEvent], publisher: Publisher, until_ms: int | None,
                 clock: Callable[[], float] = wall_ms, wait: Callable[[float], object] = time.sleep) -> int:
    """Publish each event when ``clock`` (epoch ms) reaches its event time; return how many.

    Stops before the first event at or after ``until_ms`` (None: when the
    events run out), and flushes the publisher however it stops. ``wait(s)``
    blocks up to ``s`` seconds; it may return early.
    """
    count = 0
    try:
        for event in events:
            event_time = event.record["event_time"]
            if until_ms is not None and event_time >= until_ms:
                break
            while (delay_s := (event_time - clock()) / 1000) > 0:
                wait(min(delay_s, MAX_WAIT_S))
            publisher.publish(event.kind, event.record)
            count += 1
    finally:
        publisher.flush()
    return count


def simulation_config(seed: int, start_ms: int, duration_s: float, rate: float, pattern_rate: float,
                      time_scale: float) -> SimulationConfig:
    """The generator's config; a bad option is a ``UserError``."""
    try:
        return SimulationConfig(seed=seed, start_ms=start_ms, duration_s=duration_s, rate=rate,
                                pattern_rate=pattern_rate, time_scale=time_scale)
    except ValueError as exc:
        raise UserError(f"simulate: {exc}") from exc


def write_file(config: SimulationConfig, out: Path, console: Console) -> None:
    """Generate ``config``'s traffic into ``out``, with a progress bar over event time."""
    columns = (TextColumn("[bold]simulate[/]"), BarColumn(), TextColumn("{task.fields[events]:,} events"),
               TimeElapsedColumn())
    planted = 0
    with Progress(*columns, console=console, transient=True) as progress:
        task = progress.add_task("simulate", total=config.duration_s, events=0)

        def advance(count: int, event: SimulatedEvent) -> None:
            nonlocal planted
            if event.label is not None:
                planted += 1
            if count % PROGRESS_EVERY == 0 and "event_time" in event.record:
                # Stories are written whole, so the last events lie past the duration.
                done_s = min(config.duration_s, (event.record["event_time"] - config.start_ms) / 1000)
                progress.update(task, completed=done_s, events=count)

        count = write_jsonl(itertools.chain(watchlist_entries(config), generate(config)), out, advance)
    console.print(f"wrote {count:,} events ({planted:,} in planted stories) to {out}")


def run_simulate(settings: Settings, seed: int, rate: float, duration_s: float | None, out: Path | None,
                 pattern_rate: float = 0.05, time_scale: float = LIVE_TIME_SCALE) -> None:
    """Generate traffic: to the JSON Lines file ``out`` if given, else live onto the input topics.

    A file covers ``duration_s`` (default one hour) of story starts from
    2026-01-05T00:00:00Z at time scale 1. Live traffic runs for ``duration_s``
    of wall-clock time, or until Ctrl-C when it is None.
    """
    console = Console(stderr=True)
    if out is not None:
        config = simulation_config(seed, FILE_START_MS, FILE_DURATION_S if duration_s is None else duration_s,
                                   rate, pattern_rate, FILE_TIME_SCALE)
        write_file(config, out, console)
        return
    start_ms = wall_ms()
    config = simulation_config(seed, start_ms, math.inf if duration_s is None else duration_s, rate,
                               pattern_rate, time_scale)
    until_ms = None if duration_s is None else start_ms + int(duration_s * 1000)
    publisher = EventPublisher(settings)
    stop = "Ctrl-C stops" if until_ms is None else f"for {duration_s:g} s"
    console.print(f"simulating {rate:g} events/s (daily average), stories {time_scale:g}x faster; {stop}",
                  soft_wrap=True)
    try:
        # The run's watchlist first: its planted hits must find it in force.
        for entry in watchlist_entries(config):
            publisher.publish(entry.kind, entry.record)
        # Polling the producer while waiting serves its delivery reports.
        count = publish_live(generate(config), publisher, until_ms, wait=publisher.producer.poll)
    except KeyboardInterrupt:
        count = publisher.delivered
    console.print(f"published {count:,} events")
