"""Replaying one simulated file through a deployment and comparing its alerts with one worker's.

The fault tests and the scale-out tests share this: each run replays the same
file live (every planted rule, clean traffic between), makes its fault
mid-stream, waits until the group has committed every event and no worker
waits for stream time, and compares the newest version of each alert with
the one-worker run's: same ids, same content, nothing missing and nothing extra.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from agents.subjects.routes import OFFICES, TIMED_KINDS
from streams.tools.replay import JsonEvent, read_events, replay
from tests.conftest import Deployment, newest_versions

# Events per second: the file (about 1,100 events) takes some 11 s, so a fault lands mid-stream.
RATE = 100
# The share of the file published when the fault is made.
FAULT_AT = 0.4
# What a downstream consumer sees of an alert, its version number and detection time aside.
COMPARED = ("rule_id", "severity", "score", "office_code", "gate_id", "subject_type", "subject_id",
            "declaration_ids", "transport_doc_no", "container_nos", "event_time", "window_start", "window_end",
            "explanation", "evidence", "trigger_event_ids", "rule_version", "prior_alerts")

Fault = Callable[[Deployment], None]


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
        if kind == OFFICES and deployed.settings.model_file is None:
            continue  # no risk model: the kind does not run
        for partition in range(deployed.settings.partitions):
            owners = [w for w in deployed.live_workers
                      if w.metric("cargoguard_stream_time_seconds", subject_kind=kind, partition=str(partition))]
            assert len(owners) == 1, (kind, partition, [w.url for w in owners])
    assert sum(w.metric("cargoguard_partition_stuck") for w in deployed.live_workers) == 0


