"""Rule changes and watchlist entries made while a worker runs apply to the next events and survive a restart."""

import time

import pytest

from agents.rules.watchlist_hit import WatchEntry
from streams.runtime.control import add_watch_entry, change_rule, remove_watch_entry
from tests.builders import HOUR, MINUTE, T0, gate_event, split_parcels, stream_time_movers
from tests.conftest import newest_versions

pytestmark = pytest.mark.e2e


def alerts_of(deployed, count):
    return newest_versions(deployed.read_topic("alerts", "alert", until=lambda seen: len(newest_versions(seen))
                                               >= count, timeout_s=60, settle_s=2))


def test_rule_change_and_watchlist_entry_apply_live_and_survive_a_restart(deployment):
    deployed = deployment()
    worker = deployed.start_worker()

    changed = change_rule(deployed.settings, "SPLIT_SHIPMENT", assignments=["min_declarations=5"], updated_by="test")
    add_watch_entry(deployed.settings, WatchEntry(entry_id="W-1", subject_type="VEHICLE", value="29H-77777",
                                                  severity="CRITICAL", reason="stolen plates", added_at=T0))
    worker.wait_rule_version("SPLIT_SHIPMENT", changed.version)
    worker.wait_metric("cargoguard_watchlist_entries", lambda entries: entries == 1)
    four_buyer, four = split_parcels(4, T0)
    five_buyer, five = split_parcels(5, T0 + 10 * MINUTE)
    watched = gate_event("IN", vehicle_plate="29H-77777", event_time=T0 + 20 * MINUTE)
    deployed.publish(four + five + [("gate_event", watched)] + stream_time_movers(T0))

    alerts = alerts_of(deployed, 2)
    by_rule = {(a["rule_id"], a["subject_id"]): a for a in alerts.values()}
    assert set(by_rule) == {("SPLIT_SHIPMENT", five_buyer), ("WATCHLIST_HIT", "29H-77777")}, worker.tail()
    assert by_rule[("SPLIT_SHIPMENT", five_buyer)]["rule_version"] == 1
    assert by_rule[("WATCHLIST_HIT", "29H-77777")]["severity"] == "CRITICAL"

    # After a restart the worker reads both topics again before it processes anything.
    worker.stop()
    worker = deployed.start_worker()
    start = T0 + 5 * HOUR
    four_buyer, four = split_parcels(4, start)
    again = gate_event("IN", vehicle_plate="29H-77777", event_time=start + 20 * MINUTE)
    deployed.publish(four + [("gate_event", again)] + stream_time_movers(start))
    alerts = alerts_of(deployed, 3)
    assert ("SPLIT_SHIPMENT", four_buyer) not in {(a["rule_id"], a["subject_id"]) for a in alerts.values()}
    assert sum(1 for a in alerts.values() if a["rule_id"] == "WATCHLIST_HIT") == 2, worker.tail()

    # Taking the entry off stops the hits.
    remove_watch_entry(deployed.settings, "W-1")
    worker.wait_metric("cargoguard_watchlist_entries", lambda entries: entries == 0)
    start = T0 + 10 * HOUR
    deployed.publish([("gate_event", gate_event("IN", vehicle_plate="29H-77777", event_time=start))]
                     + stream_time_movers(start))
    time.sleep(3)
    alerts = alerts_of(deployed, 3)
    assert sum(1 for a in alerts.values() if a["rule_id"] == "WATCHLIST_HIT") == 2
