"""The traffic simulator: deterministic, valid, replayable, and labelled truthfully.

The decisive test runs generated traffic through the pure pipeline oracle:
every planted story must raise its alert, and clean traffic must raise none.
"""

from __future__ import annotations

import collections
import itertools
import json
import math
import re
import time
from functools import cache
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from agents.rules.config import load_rule_book
from streams.cli import cli
from streams.kafka.codec import Codec
from streams.kafka.topics import EVENT_KINDS, PUBLIC_TOPICS
from streams.kafka.validation import validate
from streams.settings import Settings
from streams.tools.replay import parse_line, read_events
from streams.tools.simulate import FILE_START_MS, json_line, publish_live, run_simulate, write_jsonl
from streams.tools.traffic import (
    AIRPORT,
    HOUR,
    OFFICE_UTC_OFFSET_H,
    OFFICES,
    STORY_KINDS,
    SimulatedEvent,
    SimulationConfig,
    container_check_digit,
    generate,
    watchlist_entries,
)
from tests.oracle import expected_alerts

START = FILE_START_MS + 2 * HOUR  # 09:00 at the offices: a day's traffic ramping up
PATTERNS = {"SPLIT_SHIPMENT", "MANIFEST_MISMATCH", "EXIT_WITHOUT_CLEARANCE", "SEAL_BROKEN", "UNDERVALUATION",
            "WEIGHBRIDGE_MISMATCH", "TRANSIT_OVERDUE", "TRANSIT_WRONG_OFFICE", "AMENDMENT_CHURN", "WATCHLIST_HIT"}
CONTAINER_NO = re.compile(r"^[A-Z]{3}U[0-9]{7}$")
Subject = tuple[str, str]


@cache
def traffic(seed: int, hours: float = 2.0, rate: float = 5.0, pattern_rate: float = 0.05,
            time_scale: float = 1.0, start_ms: int = START) -> tuple[SimulatedEvent, ...]:
    config = SimulationConfig(seed=seed, start_ms=start_ms, duration_s=hours * 3600, rate=rate,
                              pattern_rate=pattern_rate, time_scale=time_scale)
    return tuple(generate(config))


def snapshot(events: tuple[SimulatedEvent, ...]) -> list[tuple[str, dict[str, Any], dict[str, str] | None]]:
    return [(e.kind, e.record, e.label) for e in events]


def planted(events: tuple[SimulatedEvent, ...]) -> set[tuple[str, str, str]]:
    return {(e.label["pattern"], e.label["subject_type"], e.label["subject_id"]) for e in events if e.label}


def test_same_seed_same_traffic_other_seed_other_traffic() -> None:
    again = SimulationConfig(seed=1, start_ms=START, duration_s=1800, rate=5.0)
    assert snapshot(tuple(generate(again))) == snapshot(traffic(1, hours=0.5))
    assert [e.record for e in traffic(2, hours=0.5)] != [e.record for e in traffic(1, hours=0.5)]


def test_another_start_time_never_reuses_an_identifier() -> None:
    # Two live runs with the default seed must not merge their shipments in the worker.
    first, second = traffic(1, hours=0.5), traffic(1, hours=0.5, start_ms=START + 7 * 24 * HOUR)
    for name in ("event_id", "transport_doc_no", "declaration_id", "manifest_id"):
        ids = {e.record.get(name) for e in first} - {None}
        assert ids and ids.isdisjoint({e.record.get(name) for e in second}), name


def test_events_are_ordered_unique_valid_and_encode() -> None:
    generated = traffic(11)
    times = [e.record["event_time"] for e in generated]
    assert times == sorted(times)
    assert len({e.record["event_id"] for e in generated}) == len(generated)
    assert {e.kind for e in generated} == {"declaration", "manifest", "gate_event"}
    codec = Codec()
    latest = int(time.time() * 1000) + 10 * 365 * 24 * HOUR
    for event in generated:
        schema = PUBLIC_TOPICS[EVENT_KINDS[event.kind]].schema
        assert codec.decode(schema, codec.encode(schema, event.record)) == event.record
        validate(event.kind, event.record, latest)


def test_records_look_like_real_customs_traffic() -> None:
    generated = traffic(12)
    offices = collections.Counter(e.record["office_code"] for e in generated)
    assert set(offices) == {office.code for office in OFFICES}
    declarations = [e.record for e in generated if e.kind == "declaration"]
    assert {d["procedure"] for d in declarations} == {"IMPORT", "TRANSIT"}
    assert {d["channel"] for d in declarations} == {"STANDARD", "ECOMMERCE", "EXPRESS"}
    for d in declarations:
        transit = d["procedure"] == "TRANSIT"
        assert (d["destination_office"] is not None, d["transit_deadline"] is not None) == (transit, transit)
    weighed = [e.record for e in generated if e.kind == "gate_event" and e.record["cargo_weight_kg"] is not None]
    assert weighed and all(g["direction"] == "IN" and g["office_code"] != AIRPORT.code for g in weighed)
    assert len({d["declarant_id"] for d in declarations}) > 100
    assert len({d["importer_id"] for d in declarations}) > 1000
    containers = {c for e in generated for c in e.record.get("container_nos", ())}
    containers |= {e.record["container_no"] for e in generated if e.record.get("container_no")}
    assert containers
    for number in containers:
        assert CONTAINER_NO.match(number) and int(number[-1]) == container_check_digit(number[:-1]), number
    parcels = [d for d in declarations if d["channel"] != "STANDARD" and d["action"] == "LODGED"]
    under = sum(d["total_value_usd"] < 40 for d in parcels)
    assert 0.3 * len(parcels) < under < 0.8 * len(parcels)
    for gate in (e.record for e in generated if e.kind == "gate_event"):
        assert gate["container_no"] or gate["transport_doc_no"]
        assert gate["container_no"] is None or gate["container_no"].strip()
        assert gate["transport_doc_no"] is None or gate["transport_doc_no"].strip()


def test_clean_shipments_match_their_manifest_and_leave_after_clearance() -> None:
    generated = traffic(13)
    docs: dict[str, dict[str, Any]] = collections.defaultdict(lambda: {"decl": None, "outs": []})
    container_doc: dict[str, str] = {}
    for event in generated:
        record = event.record
        if event.label is not None:
            continue
        if event.kind == "gate_event":
            doc = record["transport_doc_no"] or container_doc[record["container_no"]]
            assert record["seal_intact"] is not False
            if record["direction"] == "OUT":
                docs[doc]["outs"].append(record)
            continue
        for container in record["container_nos"]:
            container_doc[container] = record["transport_doc_no"]
        facts = docs[record["transport_doc_no"]]
        if event.kind == "manifest":
            facts["manifest"] = record
        else:
            facts["decl"] = record
            if record["action"] == "CLEARED":
                facts["cleared_at"] = record["event_time"]
    outs_by_container = 0
    for doc, facts in docs.items():
        declaration, manifest = facts["decl"], facts.get("manifest")
        if manifest is not None:
            assert abs(declaration["gross_weight_kg"] / manifest["gross_weight_kg"] - 1) <= 0.03, doc
            assert declaration["package_count"] == manifest["package_count"], doc
            assert manifest["container_nos"] == declaration["container_nos"], doc
        for out in facts["outs"]:
            assert out["event_time"] > facts["cleared_at"], doc
            if out["transport_doc_no"] is None:
                assert out["container_no"] in declaration["container_nos"]
                outs_by_container += 1
    assert outs_by_container > 0


def test_clean_transits_reach_their_destination_before_the_deadline() -> None:
    generated = traffic(14)
    transits = {e.record["transport_doc_no"]: e.record for e in generated
                if e.kind == "declaration" and e.record["procedure"] == "TRANSIT" and e.label is None}
    assert transits
    for doc, declaration in transits.items():
        arrivals = [e.record for e in generated if e.kind == "gate_event" and e.record["transport_doc_no"] == doc
                    and e.record["office_code"] == declaration["destination_office"]]
        assert arrivals and all(a["event_time"] <= declaration["transit_deadline"] for a in arrivals), doc


def test_every_event_of_a_planted_story_carries_its_label() -> None:
    generated = traffic(5, hours=1.0, pattern_rate=0.2)
    labels = {(e.label["subject_type"], e.label["subject_id"]): e.label for e in generated if e.label}
    doc_of_container = {c: e.record["transport_doc_no"] for e in generated if e.kind != "gate_event"
                        for c in e.record["container_nos"]}
    checked = 0
    for event in generated:
        record = event.record
        subjects: list[Subject] = []
        if event.kind == "declaration" and record["channel"] != "STANDARD":
            subjects.append(("IMPORTER", record["importer_id"]))
        doc = record.get("transport_doc_no") or doc_of_container.get(record.get("container_no") or "")
        if doc:
            subjects.append(("SHIPMENT", doc))
        elif event.kind == "gate_event":
            subjects.append(("CONTAINER", record["container_no"]))
        for subject in subjects:
            if subject in labels:
                assert event.label == labels[subject], (subject, record["event_id"])
                checked += 1
    assert checked > len(labels)


@pytest.mark.parametrize("seed", [11, 12, 13])
def test_every_planted_pattern_is_caught_and_clean_traffic_raises_nothing(seed: int) -> None:
    generated = traffic(seed)
    stories = planted(generated)
    assert {pattern for pattern, _, _ in stories} == PATTERNS
    assert {("EXIT_WITHOUT_CLEARANCE", "SHIPMENT"), ("EXIT_WITHOUT_CLEARANCE", "CONTAINER")} <= {
        (pattern, subject_type) for pattern, subject_type, _ in stories}
    config = SimulationConfig(seed=seed, start_ms=START, duration_s=2 * 3600, rate=5.0, pattern_rate=0.05)
    entries = [(e.kind, e.record) for e in watchlist_entries(config)]
    alerts = expected_alerts(entries + [(e.kind, e.record) for e in generated], load_rule_book(),
                             flush_after_ms=10 * 60_000)
    raised = {(a.rule_id, a.subject_type, a.subject_id) for a in alerts.values()}
    assert stories - raised == set(), "planted stories without their alert"
    labelled = {(subject_type, subject_id) for _, subject_type, subject_id in stories}
    assert {(t, s) for _, t, s in raised} - labelled == set(), "alerts on clean traffic"
    assert raised - stories == set(), "alerts of another rule than the one planted"


def test_a_run_longer_than_a_day_plants_surges_and_clean_declarants_never_surge() -> None:
    config = SimulationConfig(seed=21, start_ms=START, duration_s=27 * 3600, rate=0.2, pattern_rate=0.3)
    generated = list(generate(config))
    stories = planted(tuple(generated))
    surges = {s for s in stories if s[0] == "DECLARANT_SURGE"}
    assert surges
    entries = [(e.kind, e.record) for e in watchlist_entries(config)]
    alerts = expected_alerts(entries + [(e.kind, e.record) for e in generated], load_rule_book(),
                             flush_after_ms=10 * 60_000)
    raised = {(a.rule_id, a.subject_type, a.subject_id) for a in alerts.values()}
    assert surges <= raised
    assert {r for r in raised if r[0] == "DECLARANT_SURGE"} == surges


def test_the_watchlist_goes_out_only_when_patterns_are_planted_and_names_what_stories_use() -> None:
    config = SimulationConfig(seed=3, start_ms=START, duration_s=3600, rate=5.0, pattern_rate=0.5)
    entries = watchlist_entries(config)
    assert {e.record["subject_type"] for e in entries} == {"VEHICLE", "IMPORTER"}
    watched = {e.record["value"] for e in entries}
    hits = {e.label["subject_id"] for e in generate(config) if e.label and e.label["pattern"] == "WATCHLIST_HIT"}
    assert hits and hits <= watched
    assert watchlist_entries(SimulationConfig(seed=3, start_ms=START, duration_s=3600, rate=5.0,
                                              pattern_rate=0.0)) == []


def test_time_scale_compresses_stories_for_live_demos() -> None:
    def longest_story_ms(events: tuple[SimulatedEvent, ...]) -> int:
        times: dict[str, list[int]] = collections.defaultdict(list)
        for event in events:
            if event.kind != "gate_event":
                times[event.record["transport_doc_no"]].append(event.record["event_time"])
        return max(max(t) - min(t) for t in times.values())

    slow, fast = traffic(6, hours=0.5), traffic(6, hours=0.5, time_scale=60.0)
    assert longest_story_ms(fast) < longest_story_ms(slow) / 30
    assert longest_story_ms(fast) < HOUR


def test_rate_is_the_daily_average_and_daytime_is_busier() -> None:
    generated = traffic(7, hours=24, rate=0.5, start_ms=FILE_START_MS)
    assert 0.93 * 43_200 < len(generated) < 1.07 * 43_200
    local_hours = collections.Counter((e.record["event_time"] // HOUR + OFFICE_UTC_OFFSET_H) % 24 for e in generated)
    day = sum(local_hours[h] for h in range(10, 18))
    night = sum(local_hours[h] for h in range(0, 8))
    assert day > 1.2 * night


def test_pattern_rate_zero_is_all_clean_and_one_is_all_planted() -> None:
    assert not any(e.label for e in traffic(8, hours=0.1, pattern_rate=0.0))
    all_planted = traffic(8, hours=0.1, pattern_rate=1.0)
    assert all(e.label for e in all_planted)
    assert {e.label["pattern"] for e in all_planted if e.label} == PATTERNS
    assert len({kind.name for kind in STORY_KINDS}) == len(STORY_KINDS)


def test_endless_traffic_is_generated_lazily() -> None:
    config = SimulationConfig(seed=9, start_ms=START, duration_s=math.inf, rate=50.0)
    assert len(list(itertools.islice(generate(config), 1000))) == 1000


def test_bad_configs_are_refused() -> None:
    for bad in ({"rate": 0.0}, {"duration_s": -1.0}, {"pattern_rate": 1.5}, {"time_scale": 0.0}):
        arguments: dict[str, Any] = {"seed": 1, "start_ms": START, "duration_s": 60.0, "rate": 1.0, **bad}
        with pytest.raises(ValueError):
            SimulationConfig(**arguments)


def test_json_lines_round_trip_through_replay(tmp_path: Path) -> None:
    generated = traffic(10, hours=0.25, pattern_rate=0.2)
    path = tmp_path / "traffic.jsonl"
    assert write_jsonl(generated, path) == len(generated)
    lines = path.read_text(encoding="utf-8").splitlines()
    for number, (line, event) in enumerate(zip(lines, generated, strict=True), start=1):
        parsed = parse_line(line, f"traffic.jsonl:{number}")
        assert (parsed.kind, parsed.record) == (event.kind, event.record)
        document = json.loads(line)
        assert document.get("label") == event.label
        assert isinstance(document["event_time"], str) and document["event_time"].endswith("Z")
    assert json_line(generated[0]).startswith('{"kind":')
    assert len(list(read_events([path]))) == len(generated)


def test_simulate_to_a_file_is_reproducible_and_starts_on_the_fixed_date(tmp_path: Path) -> None:
    first, second = tmp_path / "a.jsonl", tmp_path / "b.jsonl"
    run_simulate(Settings(), seed=4, rate=5.0, duration_s=900.0, out=first)
    result = CliRunner().invoke(cli, ["simulate", "--seed", "4", "--rate", "5", "--duration", "900",
                                      "--out", str(second)])
    assert result.exit_code == 0, result.output
    assert first.read_bytes() == second.read_bytes()
    events = list(read_events([first]))
    watchlist = [e for e in events if e.kind == "watchlist_entry"]
    assert watchlist and events[: len(watchlist)] == watchlist, "the watchlist goes first"
    assert min(e.record["event_time"] for e in events[len(watchlist):]) >= FILE_START_MS


class FakeClock:
    """Wall-clock milliseconds that move only when someone waits."""

    def __init__(self, now_ms: float) -> None:
        self.now_ms = now_ms

    def __call__(self) -> float:
        return self.now_ms

    def wait(self, seconds: float) -> None:
        self.now_ms += seconds * 1000


class RecordingPublisher:
    def __init__(self, clock: FakeClock) -> None:
        self.clock = clock
        self.sent: list[tuple[float, str, dict[str, Any]]] = []
        self.flushes = 0

    def publish(self, kind: str, record: dict[str, Any]) -> None:
        self.sent.append((self.clock(), kind, dict(record)))

    def flush(self) -> None:
        self.flushes += 1


def test_live_traffic_goes_out_when_its_event_time_comes_and_stops_at_the_deadline() -> None:
    clock = FakeClock(START)
    publisher = RecordingPublisher(clock)
    events = traffic(12, hours=0.2, pattern_rate=0.3, time_scale=60.0)
    until = START + 5 * 60_000
    count = publish_live(events, publisher, until_ms=until, clock=clock, wait=clock.wait)
    expected = [e for e in events if e.record["event_time"] < until]
    assert count == len(publisher.sent) == len(expected) > 0
    assert publisher.flushes == 1
    for (sent_at, kind, record), event in zip(publisher.sent, expected, strict=True):
        assert (kind, record) == (event.kind, event.record)
        assert "label" not in record
        assert event.record["event_time"] <= sent_at < event.record["event_time"] + 1


def test_live_traffic_is_flushed_when_interrupted() -> None:
    clock = FakeClock(START)
    publisher = RecordingPublisher(clock)

    def interrupt(seconds: float) -> None:
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        publish_live(traffic(12, hours=0.2, time_scale=60.0), publisher, until_ms=None, clock=clock,
                     wait=interrupt)
    assert publisher.flushes == 1
