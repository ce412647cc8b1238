"""``cargoguard simulate``: generated traffic to a JSON Lines file, or live onto the topics."""

from __future__ import annotations

import json
import time
from collections.abc import Iterable
from pathlib import Path

from rich.console import Console

from streams.events_json import to_json_document
from streams.publish import EventPublisher
from streams.settings import Settings
from streams.stream_time import wall_ms
from streams.topics import EVENT_KINDS, PUBLIC_TOPICS
from streams.traffic import SimulatedEvent, SimulationConfig, generate

# Files start on a fixed Monday so the same seed always gives the same file.
FILE_START_MS = 1_767_571_200_000  # 2026-01-05T00:00:00Z
FILE_DURATION_S = 3600.0


def json_line(event: SimulatedEvent) -> str:
    """One event as a replay-file line (ISO times; the label beside the fields)."""
    schema = PUBLIC_TOPICS[EVENT_KINDS[event.kind]].schema
    document = {"kind": event.kind, **to_json_document(schema, event.record)}
    if event.label:
        document["label"] = event.label
    return json.dumps(document, separators=(",", ":"))


def write_jsonl(events: Iterable[SimulatedEvent], path: Path) -> int:
    """Write events as JSON Lines; return how many."""
    count = 0
    with path.open("w", encoding="utf-8") as out:
        for event in events:
            out.write(json_line(event) + "\n")
            count += 1
    return count


def publish_live(events: Iterable[SimulatedEvent], publisher: EventPublisher) -> int:
    """Publish each event when the wall clock reaches its event time; return how many."""
    count = 0
    try:
        for event in events:
            delay = (event.record["event_time"] - wall_ms()) / 1000
            if delay > 0:
                publisher.producer.poll(0)
                time.sleep(delay)
            publisher.publish(event.kind, event.record)
            count += 1
    finally:
        publisher.flush()
    return count


def run_simulate(settings: Settings, seed: int, rate: float, duration_s: float | None,
                 out: Path | None, pattern_rate: float = 0.05, time_scale: float = 60.0) -> None:
    """Generate traffic: to ``out`` if given, else live onto the input topics."""
    console = Console(stderr=True)
    if out is not None:
        config = SimulationConfig(seed=seed, start_ms=FILE_START_MS,
                                  duration_s=duration_s or FILE_DURATION_S, rate=rate,
                                  pattern_rate=pattern_rate)
        count = write_jsonl(generate(config), out)
        console.print(f"wrote {count} events to {out}")
        return
    # Without a duration, a day of stories: in effect until Ctrl-C.
    config = SimulationConfig(seed=seed, start_ms=wall_ms(), duration_s=duration_s or 86_400.0,
                              rate=rate, pattern_rate=pattern_rate, time_scale=time_scale)
    with EventPublisher(settings) as publisher:
        console.print(f"publishing simulated traffic at about {rate:g} events/s; Ctrl-C stops")
        try:
            count = publish_live(generate(config), publisher)
        except KeyboardInterrupt:
            count = publisher.delivered
    console.print(f"published {count} events")
