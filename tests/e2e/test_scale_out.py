"""Several workers in one group decide exactly as one: no fault, a crash, a worker added, a rolling restart.

Each run replays the same simulated file live (every planted rule, clean
traffic between) into a group of workers and waits until the group has
committed every event and no worker waits for stream time. Its alerts, the
newest version of each id, must equal the one-worker run's: same ids, same
content, nothing missing and nothing extra.
"""

from __future__ import annotations

import itertools
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from agents.subjects.routes import TIMED_KINDS
from streams.tools.replay import JsonEvent, read_events, replay
from streams.tools.simulate import FILE_START_MS, write_jsonl
from streams.tools.traffic import SimulationConfig, generate, watchlist_entries
from tests.conftest import Deployment, WorkerProcess, newest_versions

pytestmark = pytest.mark.e2e

# Events per second: the file (about 1,100 events) takes some 11 s, so a fault lands mid-stream.
RATE = 100
# The share of the file published when the fault is made.
FAULT_AT = 0.4
# What a downstream consumer sees of an alert, its version number and detection time aside.
COMPARED = ("rule_id", "severity", "score", "office_code", "gate_id", "subject_type", "subject_id",
            "declaration_ids", "transport_doc_no", "container_nos", "event_time", "window_start", "window_end",
            "explanation", "evidence", "trigger_event_ids", "rule_version", "prior_alerts")

Fault = Callable[[Deployment], None]


@pytest.fixture(scope="module")
def traffic(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A labelled file with every rule planted: the simulator's, an hour of stories at 1 event/s."""
    path = tmp_path_factory.mktemp("traffic") / "traffic.jsonl"
    config = SimulationConfig(seed=11, start_ms=FILE_START_MS, duration_s=1200, rate=1, pattern_rate=0.3)
    write_jsonl(itertools.chain(watchlist_entries(config), generate(config)), path)
    return path


def final_alerts(deployed: Deployment) -> dict[str, dict[str, Any]]:
    """Alert id -> the compared fields of its newest version."""
    records = deployed.read_all("alerts", "alert")
    return {alert_id: {name: alert[name] for name in COMPARED}
            for alert_id, alert in newest_versions(records).items()}


def run_file(deployed: Deployment, path: Path, workers: int, fault: Fault | None = None) -> dict[str, dict[str, Any]]:
    """Start ``workers`` workers, replay ``path`` live (making ``fault`` mid-stream), drain, read the alerts."""
    deployed.start_workers(workers)
    watchlist = [event for event in read_events([path]) if event.kind == "watchlist_entry"]
    deployed.publish([(event.kind, event.record) for event in watchlist])
    for worker in deployed.live_workers:
        worker.wait_metric("cargoguard_watchlist_entries", lambda v: v >= len(watchlist))
    events = [line for line in path.read_text().splitlines() if '"watchlist_entry"' not in line]
    rest = path.with_name(f"{path.stem}-{len(deployed.workers)}-{id(deployed)}.jsonl")
    rest.write_text("\n".join(events) + "\n")
    published = 0
    done = threading.Event()
    failures: list[BaseException] = []

    def count(_event: JsonEvent) -> None:
        nonlocal published
        published += 1

    def publish() -> None:
        try:
            replay([rest], deployed.publisher, rate=RATE, on_published=count)
        except BaseException as exc:
            failures.append(exc)
        finally:
            done.set()

    publisher = threading.Thread(target=publish)
    publisher.start()
    if fault is not None:
        while published < FAULT_AT * len(events) and not done.is_set():
            time.sleep(0.05)
        assert not done.is_set(), "the file ended before the fault"
        fault(deployed)
    publisher.join()
    assert not failures, f"the replay failed: {failures[0]!r}"
    deployed.wait_drained()
    return final_alerts(deployed)


@pytest.fixture(scope="module")
def one_worker(broker_address: str, traffic: Path,
               tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, dict[str, Any]]]:
    """The reference: the file through one worker."""
    deployed = Deployment(broker_address, tmp_path_factory.mktemp("one-worker"))
    try:
        alerts = run_file(deployed, traffic, 1)
    finally:
        deployed.close()
    planted = {(e.label["pattern"], e.label["subject_id"]) for e in read_events([traffic]) if e.label}
    found = {(a["rule_id"], a["subject_id"]) for a in alerts.values()}
    assert planted <= found, f"one worker missed {planted - found}"
    yield alerts


def assert_same(alerts: dict[str, dict[str, Any]], reference: dict[str, dict[str, Any]],
                deployed: Deployment) -> None:
    missing = sorted(set(reference) - set(alerts))
    extra = sorted(set(alerts) - set(reference))
    changed = sorted(a for a in set(alerts) & set(reference) if alerts[a] != reference[a])
    logs = "\n".join(worker.tail(15) for worker in deployed.workers)
    late = [w.samples("cargoguard_late_events_total") for w in deployed.live_workers]
    differences = [(a, {k: (reference[a][k], alerts[a][k]) for k in COMPARED if reference[a][k] != alerts[a][k]})
                   for a in changed]
    assert not missing and not extra and not changed, (
        f"missing {missing}, extra {extra}, changed {differences}\nlate events per worker: {late}\n{logs}")


def assert_every_partition_has_a_stream_time(deployed: Deployment) -> None:
    """Each subject partition that waits for stream time shows it on the worker that owns it; none is stuck."""
    for kind in TIMED_KINDS:
        for partition in range(deployed.settings.partitions):
            owners = [w for w in deployed.live_workers
                      if w.metric("cargoguard_stream_time_seconds", subject_kind=kind, partition=str(partition))]
            assert len(owners) == 1, (kind, partition, [w.url for w in owners])
    assert sum(w.metric("cargoguard_partition_stuck") for w in deployed.live_workers) == 0


@pytest.mark.parametrize("workers", [2, 3])
def test_a_group_without_faults_raises_what_one_worker_raises(deployment, traffic, one_worker, workers):
    deployed = deployment()
    assert_same(run_file(deployed, traffic, workers), one_worker, deployed)
    assert_every_partition_has_a_stream_time(deployed)


def kill_one(deployed: Deployment) -> None:
    deployed.live_workers[0].kill()


def add_one(deployed: Deployment) -> None:
    deployed.start_workers(1)


def stop_one(deployed: Deployment) -> None:
    worker: WorkerProcess = deployed.live_workers[0]
    worker.stop()


@pytest.mark.parametrize("fault", [kill_one, add_one, stop_one], ids=["sigkill", "fourth-joins", "sigterm"])
def test_a_group_with_a_fault_mid_stream_raises_what_one_worker_raises(deployment, traffic, one_worker, fault):
    deployed = deployment()
    assert_same(run_file(deployed, traffic, 3, fault), one_worker, deployed)
    assert_every_partition_has_a_stream_time(deployed)



def test_garbage_on_the_control_topics_before_the_group_starts_changes_nothing(deployment, traffic, one_worker):
    """Undecodable rule and watchlist records are there before three workers start; one is killed mid-stream."""
    deployed = deployment()
    garbage = {"rules": b"SEAL_BROKEN", "watchlist": b"W-GARBAGE"}
    for topic, key in garbage.items():
        deployed.publisher.publish_raw(deployed.names.public(topic), key, b"not Avro at all")
    deployed.publisher.flush()
    assert_same(run_file(deployed, traffic, 3, kill_one), one_worker, deployed)
    letters = deployed.read_topic("dead_letter", "dead_letter", until=lambda seen: len(seen) >= 3, timeout_s=30)
    # Every worker read the control topics at start and dead-lettered what it skipped.
    assert {letter["original_key"] for letter in letters} == set(garbage.values())
    assert {letter["source_topic"] for letter in letters} == {deployed.names.public(t) for t in garbage}
