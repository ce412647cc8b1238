"""Which alerts count as raised: ``new_versions`` and ``withdrawn_unsent``."""

from __future__ import annotations

from agents.rules.findings import Finding
from streams.runtime.alert_versions import REATTRIBUTED_VERSION_STEP, new_versions, withdrawn_unsent


def finding(identity: str, trigger: str = "e-1") -> Finding:
    return Finding(rule_id="SPLIT_SHIPMENT", identity=identity, severity="HIGH", subject_type="IMPORTER",
                   subject_id="I-1", office_code="VNSGN01", event_time=1_000, window_start=0,
                   explanation="split", evidence=(), trigger_event_ids=(trigger,), importer_id="I-1")


def test_an_alert_first_sent_at_a_later_version_counts_as_raised_once():
    grown = finding("I-1:D-1", trigger="e-2")
    raised: dict[str, list] = {}
    # Versions 1 and 2 from the importer reached scoring in one step: only version 2 is sent.
    sends = new_versions([grown], raised, {grown.alert_id: 2})
    assert sends.versions == [(grown, 2)]
    assert sends.first_raised == {grown.alert_id}
    grown_again = finding("I-1:D-1", trigger="e-3")
    sends = new_versions([grown_again], raised)
    assert sends.versions == [(grown_again, 3)]
    assert sends.first_raised == set()


def test_an_alert_moved_from_another_history_is_not_raised_again():
    moved = finding("I-1:D-9")
    sends = new_versions([moved], {}, {moved.alert_id: 1 + REATTRIBUTED_VERSION_STEP})
    assert sends.versions == [(moved, 1 + REATTRIBUTED_VERSION_STEP)]
    assert sends.first_raised == set()


def test_an_alert_withdrawn_unsent_counts_where_it_was_first_scored():
    # Moved before its first history sent it: counted there. Moved again: counted already.
    assert withdrawn_unsent([(2, "SEAL_BROKEN", "HIGH"), (1 + REATTRIBUTED_VERSION_STEP, "SEAL_BROKEN", "HIGH")]) \
        == [("SEAL_BROKEN", "HIGH")]
