"""Faults mid-stream change no decision: the file's alerts equal the fault-free run's, nothing lost, nothing extra.

Each test replays the simulated file (``tests/e2e/file_runs.py``) and makes
one fault while it flows; the one-worker run of the same file without the
fault is the reference.
"""

from __future__ import annotations

import os
import random
import signal
import time
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from confluent_kafka import Producer

from agents.rules.config import load_rule_book
from streams.kafka.codec import Codec
from streams.kafka.embedded_broker import EmbeddedBroker, free_port
from streams.kafka.topics import EVENT_KINDS
from streams.tools.bench import peak_rss_mb
from streams.tools.replay import replay
from tests.builders import T0, declaration, gate_event, manifest
from tests.conftest import Deployment, newest_versions
from tests.e2e.file_runs import assert_same, run_file
from tests.oracle import expected_alerts
from tests.scenarios import Scenario, build

pytestmark = [pytest.mark.e2e, pytest.mark.faults]

HOSTILE_EVENTS = 10_000
BROKER_PAUSE_S = 30.0
# Events per second a worker meets day to day (the live-latency target's rate);
# a burst of five times it outruns one worker on this machine, so lag builds and must drain.
SUSTAINED_RATE = 1_000
# 9999-12-31T00:00:00Z
YEAR_9999_MS = 253_402_214_400_000
# Peak resident memory of a worker that read the file and the hostile events.
# One worker peaks near 210 MiB here with the hostile events (six records of
# 3-5 MB each are decoded, refused and cut, never kept), and after a burst.
MEMORY_BOUND_MIB = 400

Hostile = tuple[str, str, Callable[[random.Random, Codec, int], bytes]]


def huge_items(_rng: random.Random, codec: Codec, i: int) -> bytes:
    record = declaration(declaration_id=f"HOSTILE-{i}")
    record["items"] = record["items"] * 100_000
    return codec.encode("declaration", record)


# (feed, the dead letter's error kind, a maker of the bytes); the huge ones come a few times only.
EVERY_TIME: list[Hostile] = [
    ("declaration", "UNDECODABLE", lambda rng, _c, _i: rng.randbytes(rng.randrange(0, 300))),
    ("gate_event", "UNDECODABLE", lambda rng, _c, _i: rng.randbytes(rng.randrange(0, 300))),
    ("manifest", "UNDECODABLE",
     lambda rng, c, i: (lambda v: v[:rng.randrange(10, len(v) - 1)])(c.encode("manifest", manifest(f"BL-H{i}")))),
    ("declaration", "UNDECODABLE",
     lambda rng, c, _i: b"\xc3\x01" + rng.randbytes(8) + c.encode("declaration", declaration())[10:]),
    ("declaration", "INVALID",
     lambda _r, c, i: c.encode("declaration", declaration(declaration_id=f"HOSTILE-{i}", gross_weight_kg=1e30))),
    ("declaration", "INVALID",
     lambda _r, c, i: c.encode("declaration", declaration(declaration_id=f"HOSTILE-{i}", event_time=YEAR_9999_MS))),
    ("declaration", "INVALID",
     lambda _r, c, i: c.encode("declaration", declaration(declaration_id=f"HOSTILE-{i}",
                                                          total_value_usd=float("nan")))),
    ("declaration", "INVALID",
     lambda _r, c, i: c.encode("declaration", declaration(declaration_id=f"HOSTILE-{i}", package_count=-5))),
    ("gate_event", "INVALID",
     lambda _r, c, _i: c.encode("gate_event", gate_event(cargo_weight_kg=-1.0, event_time=T0))),
]
SOMETIMES: list[Hostile] = [
    ("declaration", "INVALID",
     lambda _r, c, i: c.encode("declaration", declaration(declaration_id=f"HOSTILE-{i}",
                                                          declarant_id="<img src=x onerror=alert(1)>" * 100_000))),
    ("declaration", "INVALID", huge_items),
]


def hostile_records(count: int, seed: int = 5) -> list[tuple[str, bytes, bytes, str]]:
    """``count`` hostile (feed, key, value, expected error kind) records, three of each huge kind among them."""
    rng = random.Random(seed)
    codec = Codec()
    made = []
    for i in range(count):
        spread, every = divmod(i, count // 6 + 1)
        feed, error_kind, make = SOMETIMES[spread % 2] if every == 1 else EVERY_TIME[i % len(EVERY_TIME)]
        made.append((feed, f"H-{i:05d}".encode(), make(rng, codec, i), error_kind))
    return made


def test_hostile_events_among_a_valid_stream_are_each_dead_lettered_and_change_nothing(deployment, traffic,
                                                                                      one_worker):
    deployed: Deployment = deployment()
    hostile = hostile_records(HOSTILE_EVENTS)
    # Records of several MB need a producer that may send them (Kafka's default limit is 1 MB).
    producer = Producer({"bootstrap.servers": deployed.settings.broker, "message.max.bytes": 16 << 20})

    def publish_hostile(deployed: Deployment) -> None:
        for feed, key, value, _kind in hostile:
            topic = deployed.names.public(EVENT_KINDS[feed])
            while True:
                try:
                    producer.produce(topic, key=key, value=value)
                    break
                except BufferError:
                    producer.poll(0.05)
        assert producer.flush(60) == 0

    alerts = run_file(deployed, traffic, 1, publish_hostile)
    assert_same(alerts, one_worker, deployed)

    letters = deployed.read_topic("dead_letter", "dead_letter", until=lambda seen: len(seen) >= HOSTILE_EVENTS,
                                  timeout_s=120, settle_s=2)
    expected = {key: kind for _feed, key, _value, kind in hostile}
    by_key: dict[bytes, dict[str, Any]] = {letter["original_key"]: letter for letter in letters}
    assert len(letters) == HOSTILE_EVENTS and set(by_key) == set(expected), (
        f"{len(letters)} letters; missing {sorted(set(expected) - set(by_key))[:5]}, "
        f"extra {sorted(set(by_key) - set(expected))[:5]}")
    wrong = [(key, letter["error_kind"], letter["reason"][:120]) for key, letter in by_key.items()
             if letter["error_kind"] != expected[key] or not letter["reason"]]
    assert not wrong, wrong[:5]
    # Every reason is short, the huge values are cut, and a cut one says where the whole record is.
    assert max(len(letter["reason"]) for letter in letters) < 1_000
    cut = [letter for letter in letters if "the whole record is at" in letter["reason"]]
    assert len(cut) == 6, Counter(letter["reason"][:60] for letter in cut)
    (worker,) = deployed.workers
    assert worker.metric("cargoguard_dead_letters_total") == HOSTILE_EVENTS
    peak = peak_rss_mb(worker.process.pid)
    print(f"worker peak RSS {peak:.0f} MiB")
    assert peak < MEMORY_BOUND_MIB


@pytest.fixture
def own_broker(tmp_path: Path) -> Iterator[EmbeddedBroker]:
    """A broker of the test's own: pausing the session's would stall every other test's clients."""
    with (tmp_path / "tansu.log").open("wb") as log, EmbeddedBroker(f"127.0.0.1:{free_port()}", log=log) as broker:
        yield broker


@pytest.mark.parametrize("workers", [1, 3])
def test_a_broker_paused_for_30_s_mid_stream_is_ridden_out_without_a_restart(own_broker, tmp_path, traffic,
                                                                              one_worker, workers):
    deployed = Deployment(own_broker.address, tmp_path)

    def pause_broker(deployed: Deployment) -> None:
        assert own_broker.process is not None
        os.kill(own_broker.process.pid, signal.SIGSTOP)
        time.sleep(BROKER_PAUSE_S)
        os.kill(own_broker.process.pid, signal.SIGCONT)

    try:
        alerts = run_file(deployed, traffic, workers, pause_broker)
        assert [worker.process.poll() for worker in deployed.workers] == [None] * workers
        assert_same(alerts, one_worker, deployed)
    finally:
        deployed.close()


def test_a_burst_of_five_times_the_sustained_rate_drains_with_memory_bounded(deployment, tmp_path):
    scenario = build(seed=8, clean_shipments=2500, clean_parcels=3500)
    expected = set(expected_alerts(scenario.events, load_rule_book(), flush_after_ms=3_600_000))
    deployed = deployment()
    worker = deployed.start_worker()
    quarter = len(scenario.events) // 4
    # A quarter at the sustained rate, half in a burst, a quarter at the sustained rate again.
    for part, (start, end, rate) in enumerate([(0, quarter, SUSTAINED_RATE),
                                               (quarter, 3 * quarter, 5 * SUSTAINED_RATE),
                                               (3 * quarter, len(scenario.events), SUSTAINED_RATE)]):
        piece = Scenario(events=scenario.events[start:end]).write_jsonl(tmp_path / f"part-{part}.jsonl")
        replay([piece], deployed.publisher, rate=rate)
    deployed.wait_drained(timeout_s=120)
    seen = deployed.read_topic("alerts", "alert", until=lambda s: set(newest_versions(s)) >= expected,
                               timeout_s=60, settle_s=3)
    assert set(newest_versions(seen)) == expected, worker.tail()
    peak = peak_rss_mb(worker.process.pid)
    print(f"{len(scenario.events)} events; worker peak RSS {peak:.0f} MiB")
    assert peak < MEMORY_BOUND_MIB
