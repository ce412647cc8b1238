"""Several workers in one group decide exactly as one: no fault, a crash, a worker added, a rolling restart.

Each run replays the simulated file (``tests/e2e/file_runs.py``) into a group
of workers; its alerts must equal the one-worker run's.
"""

from __future__ import annotations

import pytest

from tests.conftest import Deployment, WorkerProcess
from tests.e2e.file_runs import assert_every_partition_has_a_stream_time, assert_same, run_file

pytestmark = pytest.mark.e2e


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


# A worker lost, added or stopped mid-stream is a fault: these run in CI's fault step (``make test-faults``).
@pytest.mark.faults
@pytest.mark.parametrize("fault", [kill_one, add_one, stop_one], ids=["sigkill", "fourth-joins", "sigterm"])
def test_a_group_with_a_fault_mid_stream_raises_what_one_worker_raises(deployment, traffic, one_worker, fault):
    deployed = deployment()
    assert_same(run_file(deployed, traffic, 3, fault), one_worker, deployed)
    assert_every_partition_has_a_stream_time(deployed)


# Hostile input met by a group that loses a worker: a fault test too.
@pytest.mark.faults
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
