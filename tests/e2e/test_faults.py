"""Faults mid-stream change no decision: the file's alerts equal the fault-free run's, nothing lost, nothing extra.

Each test replays the simulated file (``tests/e2e/file_runs.py``) and makes
one fault while it flows; the one-worker run of the same file without the
fault is the reference.
"""

from __future__ import annotations

import random
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from confluent_kafka import Producer

from streams.kafka.codec import Codec
from tests.builders import T0, declaration, gate_event, manifest
from tests.conftest import Deployment
from tests.e2e.file_runs import assert_same, run_file

pytestmark = pytest.mark.e2e

HOSTILE_EVENTS = 10_000
# 9999-12-31T00:00:00Z
YEAR_9999_MS = 253_402_214_400_000
# Peak resident memory of a worker that read the file and the hostile events.
# One worker peaks near 210 MiB here with them: six records of 3-5 MB each are
# decoded, refused and cut, never kept.
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


def peak_rss_mib(pid: int) -> float:
    """A process's peak resident set (VmHWM), in MiB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    raise AssertionError(f"no VmHWM for {pid}")


def test_hostile_events_among_a_valid_stream_are_each_dead_lettered_and_change_nothing(deployment, traffic,
                                                                                      one_worker):
    deployed: Deployment = deployment()
    hostile = hostile_records(HOSTILE_EVENTS)
    # Records of several MB need a producer that may send them (Kafka's default limit is 1 MB).
    producer = Producer({"bootstrap.servers": deployed.settings.broker, "message.max.bytes": 16 << 20})

    def publish_hostile(deployed: Deployment) -> None:
        for feed, key, value, _kind in hostile:
            topic = deployed.names.public({"declaration": "declarations", "manifest": "manifests",
                                           "gate_event": "gate_events"}[feed])
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
    peak = peak_rss_mib(worker.process.pid)
    print(f"worker peak RSS {peak:.0f} MiB")
    assert peak < MEMORY_BOUND_MIB
