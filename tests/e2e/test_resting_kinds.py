"""A subject kind whose rules are all disabled is sent nothing, and works again once one is enabled."""

import time

import pytest

from streams.errors import UserError
from streams.runtime.control import change_rule, effective_rules
from streams.tools.bench import enable_only
from tests.builders import HOUR, MINUTE, T0, declaration, gate_event, next_id, split_parcels, stream_time_movers
from tests.conftest import newest_versions

pytestmark = pytest.mark.e2e


def split_story(start):
    buyer, events = split_parcels(5, start)
    return buyer, events + stream_time_movers(start)


def subject_events(worker, kind):
    """Routed events the worker's subjects of ``kind`` have applied."""
    return worker.metric("cargoguard_subject_events_total", subject_kind=kind)


def set_enabled(deployed, worker, rule_id, enabled):
    changed = change_rule(deployed.settings, rule_id, enabled=enabled, updated_by="test")
    worker.wait_rule_version(rule_id, changed.version)


def test_a_disabled_rule_costs_its_subject_kind_nothing_until_it_is_enabled_again(deployment):
    deployed = deployment()
    worker = deployed.start_worker()
    set_enabled(deployed, worker, "SPLIT_SHIPMENT", False)
    resting_buyer, events = split_story(T0)
    deployed.publish(events)
    wait_routed(worker, len(events))
    assert subject_events(worker, "importers") == 0, worker.tail()

    set_enabled(deployed, worker, "SPLIT_SHIPMENT", True)
    buyer, events = split_story(T0 + 5 * HOUR)
    deployed.publish(events)
    alerts = newest_versions(deployed.read_topic(
        "alerts", "alert", until=lambda seen: any(a["subject_id"] == buyer for a in seen), timeout_s=60, settle_s=1))
    split = {a["subject_id"] for a in alerts.values() if a["rule_id"] == "SPLIT_SHIPMENT"}
    assert split == {buyer}, worker.tail()
    assert subject_events(worker, "importers") == 5
    worker.stop()


def test_bench_enables_only_the_rules_it_is_given(deployment):
    deployed = deployment()
    four = ["EXIT_WITHOUT_CLEARANCE", "MANIFEST_MISMATCH", "SEAL_BROKEN", "SPLIT_SHIPMENT"]
    assert enable_only(deployed.settings, four) == four
    book = effective_rules(deployed.settings)
    assert sorted(rule_id for rule_id in book.rules if book.enabled(rule_id)) == four
    with pytest.raises(UserError, match="unknown rules NO_SUCH_RULE"):
        enable_only(deployed.settings, ["SPLIT_SHIPMENT", "NO_SUCH_RULE"])


def wait_routed(worker, count):
    worker.wait_metric("cargoguard_events_total", lambda routed: routed >= count)
    time.sleep(2)  # what was routed has reached the subjects, and a progress report or two


def test_declarants_back_from_a_rest_do_not_take_the_hole_for_quiet_days(deployment):
    deployed = deployment()
    worker = deployed.start_worker()
    declarant = next_id("DCL")
    day = 24 * HOUR

    def filings(first_day, last_day, per_day, at):
        return [("declaration", declaration(declarant_id=declarant, event_time=T0 + d * day + at + i * 20 * MINUTE))
                for d in range(first_day, last_day + 1) for i in range(per_day)]

    def moving_stream_time_to(time_ms):
        return [("gate_event", gate_event("IN", event_time=time_ms))]

    published = filings(0, 0, 1, 9 * HOUR) + moving_stream_time_to(T0 + 10 * HOUR)
    deployed.publish(published)
    wait_routed(worker, len(published))

    # A busy declarant, 20 filings a day, while its rules are off: the declarants never see them.
    for rule_id in ("AMENDMENT_CHURN", "DECLARANT_SURGE"):
        set_enabled(deployed, worker, rule_id, False)
    busy = filings(1, 4, 20, 1 * HOUR) + moving_stream_time_to(T0 + 4 * day + 10 * HOUR)
    deployed.publish(busy)
    published += busy
    wait_routed(worker, len(published))

    # Back on, 25 filings in the next morning: as busy as ever, no surge. Had the
    # declarants' observation still begun on day 0, days 1-4 would look empty.
    for rule_id in ("AMENDMENT_CHURN", "DECLARANT_SURGE"):
        set_enabled(deployed, worker, rule_id, True)
    morning = filings(5, 5, 25, 0) + moving_stream_time_to(T0 + 6 * day)
    deployed.publish(morning)
    published += morning
    wait_routed(worker, len(published))
    time.sleep(3)
    alerts = deployed.read_topic("alerts", "alert", until=lambda seen: False, timeout_s=3, settle_s=1)
    assert [a for a in alerts if a["rule_id"] == "DECLARANT_SURGE"] == [], worker.tail()
    assert subject_events(worker, "declarants") == 1 + 25  # none of the busy days'
    worker.stop()
