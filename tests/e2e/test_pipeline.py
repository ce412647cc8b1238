"""The whole pipeline on the embedded broker: replay a file, read the alerts back."""

import subprocess
import sys
import time

import pytest

from agents.rules.config import load_rule_book
from tests.builders import HOUR, MINUTE, T0, declaration, gate_event, manifest
from tests.conftest import REPO, newest_versions
from tests.oracle import expected_alerts
from tests.scenarios import build

pytestmark = pytest.mark.e2e


def test_replayed_file_raises_exactly_the_expected_alerts(deployment, tmp_path):
    deployed = deployment()
    deployed.start_worker()
    scenario = build(seed=11)
    path = scenario.write_jsonl(tmp_path / "traffic.jsonl")
    env = {"PATH": "", **deployed.settings.as_env()}
    replay = subprocess.run([sys.executable, "-m", "streams", "replay", str(path)], cwd=REPO, env=env,
                            capture_output=True, text=True, timeout=120)
    assert replay.returncode == 0, replay.stderr
    assert f"published {len(scenario.events)} events" in replay.stdout

    expected = expected_alerts(scenario.events, load_rule_book(), flush_after_ms=3_600_000)
    assert {(f.rule_id, f.subject_type, f.subject_id) for f in expected.values()} == scenario.planted

    alerts = deployed.read_topic("alerts", "alert",
                                 until=lambda seen: set(newest_versions(seen)) >= set(expected),
                                 timeout_s=90, settle_s=3)
    newest = newest_versions(alerts)
    assert set(newest) == set(expected), deployed.workers[0].tail()
    for alert_id, finding in expected.items():
        alert = newest[alert_id]
        assert (alert["rule_id"], alert["severity"], alert["subject_type"], alert["subject_id"]) == (
            finding.rule_id, finding.severity, finding.subject_type, finding.subject_id)
        assert alert["explanation"] == finding.explanation
        assert [e["name"] for e in alert["evidence"]] == [e.name for e in finding.evidence]
        assert alert["trigger_event_ids"] == list(finding.trigger_event_ids)
        assert 0 <= alert["score"] <= 100
        assert alert["detected_at"] >= alert["event_time"]


def test_a_worker_started_on_a_backlog_finds_the_same_and_counts_each_alert_once(deployment):
    """A worker started on a backlog gets routed batches faster than it processes them.

    It takes those already fetched as one step per partition (the router's
    step made longer), and raises exactly what the rules find in the file. A
    growing finding's versions reach scoring together: it is first sent at a
    version above 1, and still counts as raised.
    """
    deployed = deployment()
    scenario = build(seed=11)
    deployed.publish(scenario.events)
    worker = deployed.start_worker()
    expected = expected_alerts(scenario.events, load_rule_book(), flush_after_ms=3_600_000)
    alerts = deployed.read_topic("alerts", "alert",
                                 until=lambda seen: set(newest_versions(seen)) >= set(expected),
                                 timeout_s=90, settle_s=3)
    newest = newest_versions(alerts)
    assert set(newest) == set(expected), worker.tail()
    for alert_id, finding in expected.items():
        assert newest[alert_id]["trigger_event_ids"] == list(finding.trigger_event_ids)
    assert worker.metric("cargoguard_alerts_total") == len(newest)
    batches = worker.metric("cargoguard_step_batches_sum")
    steps = worker.metric("cargoguard_step_batches_count")
    assert batches > steps > 0, worker.samples("cargoguard_step_batches_bucket")


def test_a_shipment_read_back_from_the_store_between_two_events_keeps_what_it_knew(deployment):
    # No clean subject stays cached past a checkpoint: the manifest, sent after
    # the declaration's checkpoint, finds the shipment only in the store.
    deployed = deployment(state_cache_entries=0)
    worker = deployed.start_worker()
    declared = declaration(event_time=T0, gross_weight_kg=1_000.0)
    deployed.publish([("declaration", declared)])
    worker.wait_metric("cargoguard_subject_events_total", lambda n: n >= 1, subject_kind="shipments")
    # Every partition checkpoints about once a second (progress reports reach them all).
    checkpoints = worker.metric("cargoguard_step_seconds_count", stage="shipments-checkpoint")
    partitions = deployed.settings.partitions
    worker.wait_metric("cargoguard_step_seconds_count", lambda n: n >= checkpoints + 2 * partitions,
                       stage="shipments-checkpoint")

    doc = declared["transport_doc_no"]
    events = [("declaration", declared),
              ("manifest", manifest(doc, event_time=T0 + MINUTE, gross_weight_kg=1_600.0))]
    expected = expected_alerts(events, load_rule_book())
    assert {(f.rule_id, f.subject_id) for f in expected.values()} == {("MANIFEST_MISMATCH", doc)}
    deployed.publish(events[1:])
    alerts = newest_versions(deployed.read_topic("alerts", "alert", until=lambda seen: bool(seen),
                                                 timeout_s=60, settle_s=2))
    assert set(alerts) == set(expected), worker.tail()


def test_a_feed_whose_first_batch_lands_after_later_events_of_another_is_waited_for(deployment):
    # Seen in CI: a producer sends each partition's batch on its own, and the
    # declarations of a replay landed after gate events hours later than them.
    # Stream time must not run past a partition that has delivered nothing yet
    # until it has had an idle period to deliver what was published before.
    deployed = deployment(idle_partition_after_s=3.0)
    worker = deployed.start_worker()
    cleared = declaration(event_time=T0)
    uncleared_doc = "BL-NEVER-CLEARED"
    gates = [("gate_event", gate_event("OUT", event_time=T0 + 10 * MINUTE, gate_id=f"GATE-{i}",
                                       transport_doc_no=doc))
             for i, doc in enumerate((cleared["transport_doc_no"], uncleared_doc))]
    # Later events on the exits' own partitions (and on more gates): stream time may pass the exits.
    gates += [("gate_event", gate_event("IN", event_time=T0 + 2 * HOUR, gate_id=f"GATE-{i}")) for i in range(16)]
    declarations = [("declaration", cleared),
                    ("declaration", dict(cleared, event_id="ev-cleared", action="CLEARED",
                                         event_time=T0 + MINUTE)),
                    *[("declaration", declaration(event_time=T0 + 2 * HOUR)) for _ in range(16)]]
    deployed.publish(gates)
    time.sleep(1.5)  # at least one progress report while the declarations feed is still empty
    deployed.publish(declarations)

    in_event_time_order = sorted(gates + declarations, key=lambda event: event[1]["event_time"])
    expected = expected_alerts(in_event_time_order, load_rule_book(), flush_after_ms=3_600_000)
    assert {(f.rule_id, f.subject_id) for f in expected.values()} == {("EXIT_WITHOUT_CLEARANCE", uncleared_doc)}
    alerts = newest_versions(deployed.read_topic("alerts", "alert",
                                                 until=lambda seen: set(newest_versions(seen)) >= set(expected),
                                                 timeout_s=60, settle_s=3))
    assert set(alerts) == set(expected), worker.tail()
