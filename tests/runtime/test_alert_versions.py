"""Alert versions: which count as raised (``new_versions``, ``withdrawn_unsent``), and none reused after a takeover."""

from __future__ import annotations

import copy
from dataclasses import asdict

import pytest

from agents.rules.config import load_rule_book
from agents.rules.findings import Finding
from agents.subjects import scoring
from agents.subjects.common import Context, RoutedEvent
from streams.kafka.alert_feed import NewestAlerts
from streams.runtime.alert_versions import (
    REATTRIBUTED_VERSION_STEP,
    Takeover,
    new_versions,
    to_scoring,
    withdrawn_unsent,
)

HOUR_MS = 3_600_000


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


def watch_hit(hour: int, trigger: str) -> RoutedEvent:
    """The router's finding for one version of a declaration: always version 1, the event's own."""
    doc = asdict(Finding(rule_id="WATCHLIST_HIT", identity="W1|declaration|D-1", severity="HIGH",
                         subject_type="IMPORTER", subject_id="I-1", office_code="VNCLI01",
                         event_time=hour * HOUR_MS, window_start=hour * HOUR_MS, explanation="watched",
                         evidence=(), trigger_event_ids=(trigger,), declarant_id="D1", importer_id="I-1"))
    return ("finding", {"finding": doc, "version": 1})


def run_steps(state: scoring.ScoringState | None, steps: list[list[RoutedEvent]], newest: NewestAlerts,
              takeover: Takeover | None = None) -> scoring.ScoringState | None:
    """The scoring agent's work on ``steps`` of batches: process, version, send (into ``newest``)."""
    context = Context(load_rule_book(), watermark=None)
    for events in steps:
        state, outcome = scoring.process(state, "DECLARANT:D1", events, context)
        sends = new_versions(outcome.findings, state.raised, outcome.version_floor, takeover)
        for sent, version in sends.versions:
            newest.offer({"alert_id": sent.alert_id, "version": version, "trigger": sent.trigger_event_ids})
    return state


@pytest.mark.parametrize("with_takeover", [True, False])
def test_a_worker_taking_over_never_reuses_a_version_its_predecessor_sent(with_takeover):
    lodged, amended, cleared = watch_hit(1, "lodged"), watch_hit(2, "amended"), watch_hit(9, "cleared")
    newest = NewestAlerts()
    checkpointed = run_steps(None, [[lodged]], newest)
    # The first owner takes in the amendment, sends it as version 2, and dies before its checkpoint.
    run_steps(copy.deepcopy(checkpointed), [[amended]], newest)
    # The next owner restores the checkpoint and gets both redelivered batches in one step.
    run_steps(copy.deepcopy(checkpointed), [[amended, cleared]], newest,
              Takeover.begin(first_offset=1, last_offset=2, highwater=3) if with_takeover else None)
    (kept,) = newest.alerts.values()
    if with_takeover:
        assert kept["trigger"] == ("cleared",)
    else:  # what the fault tests caught: the second owner's version 2 lost to the first's
        assert kept["trigger"] == ("amended",)


def test_a_subject_taking_over_resends_its_findings_once_above_what_its_predecessor_could_send():
    split = finding("I-1:D-1")
    raised: dict[str, list] = {}
    assert [fields["version"] for _, _, fields in to_scoring([split], raised)] == [1]
    takeover = Takeover.begin(first_offset=10, last_offset=11, highwater=14)
    # The same content as checkpointed: sent again all the same, 4 batches (10..13) above.
    assert [fields["version"] for _, _, fields in to_scoring([split], raised, takeover)] == [6]
    assert to_scoring([split], raised, takeover) == []
    grown = finding("I-1:D-1", trigger="e-2")
    assert [fields["version"] for _, _, fields in to_scoring([grown], raised, takeover)] == [7]
