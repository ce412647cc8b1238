"""Which alerts count as raised: ``first_raised``."""

from __future__ import annotations

from agents.rules.findings import Finding
from streams.runtime.alert_versions import REATTRIBUTED_VERSION_STEP, first_raised, new_versions


def finding(identity: str, trigger: str = "e-1") -> Finding:
    return Finding(rule_id="SPLIT_SHIPMENT", identity=identity, severity="HIGH", subject_type="IMPORTER",
                   subject_id="I-1", office_code="VNSGN01", event_time=1_000, window_start=0,
                   explanation="split", evidence=(), trigger_event_ids=(trigger,), importer_id="I-1")


def test_an_alert_first_sent_at_a_later_version_counts_as_raised_once():
    grown = finding("I-1:D-1", trigger="e-2")
    raised: dict[str, list] = {}
    unseen = {grown.alert_id} - raised.keys()
    # Versions 1 and 2 from the importer reached scoring in one step: only version 2 is sent.
    to_send = new_versions([grown], raised, {grown.alert_id: 2})
    assert to_send == [(grown, 2)]
    assert first_raised(to_send, unseen) == {grown.alert_id}
    grown_again = finding("I-1:D-1", trigger="e-3")
    unseen = {grown_again.alert_id} - raised.keys()
    assert first_raised(new_versions([grown_again], raised), unseen) == set()


def test_an_alert_moved_from_another_history_is_not_raised_again():
    moved = finding("I-1:D-9")
    to_send = new_versions([moved], {}, {moved.alert_id: 1 + REATTRIBUTED_VERSION_STEP})
    assert first_raised(to_send, {moved.alert_id}) == set()
